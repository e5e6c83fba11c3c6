#pragma once
// BERT / RoBERTa text encoders (e.g. all-MiniLM-L6-v2, microsoft/codebert-base) on the shared
// encoder core (encoder.hpp): Hugging Face safetensors weights, last hidden state and pooling.
// libtorch stays inside src/llm/bert.cpp.
//
// Embeddings: word + position + token type, then LayerNorm; post-LN layers with erf GELU.
// The two families differ only in the embeddings (both handled from config.json's model_type):
//   bert     positions 0..T-1 for every slot; token type ids as given (default 0)
//   roberta  positions from the non-pad mask: pos = cumsum(ids != pad) * (ids != pad) + pad_id, so
//            the first real token is at padding_idx + 1 and pads sit at padding_idx; token type
//            always 0 (type_vocab_size is 1)
// Tensor names (BertModel / RobertaModel; a "bert." or "roberta." prefix, as in the *ForMaskedLM
// checkpoints, is accepted):
//   embeddings.{word_embeddings,position_embeddings,token_type_embeddings}.weight
//   embeddings.LayerNorm.{weight,bias}
//   encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
//   encoder.layer.N.attention.output.{dense,LayerNorm}.{weight,bias}
//   encoder.layer.N.intermediate.dense.{weight,bias}   encoder.layer.N.output.{dense,LayerNorm}.{weight,bias}
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "mtk/encoders/encoder_source.hpp"

namespace mtk::encoders {

struct TextEncoderConfig {
  std::string model_type = "bert";  // "bert" or "roberta"
  int hidden = 768, heads = 12, intermediate = 3072, layers = 12;
  int vocab = 30522, max_positions = 512, type_vocab = 2;
  int pad_id = 0;
  double eps = 1e-12;
  std::string act = "gelu";

  bool roberta() const { return model_type == "roberta"; }
};

// From config.json (model_type bert or roberta; missing keys take transformers' BertConfig defaults,
// pad_token_id 1 for roberta). Throws mtk::Error for other model types or inconsistent sizes.
TextEncoderConfig text_encoder_config_from_json(const nlohmann::json& config);

// RoBERTa's position ids for one padded sequence.
std::vector<int64_t> roberta_position_ids(const std::vector<int32_t>& ids, int32_t pad_id);

enum class Pooling {
  padded_mean,  // mean of the last hidden state over all T slots, pads included (the paper's CodeBERT)
  masked_mean,  // mean over the real tokens only (sentence-transformers' mean pooling)
  cls,          // the first token's state
};

struct TextEncoderOptions {
  std::string device = "cpu";
};

// The last hidden state of a padded batch.
struct TextEncoderOutput {
  size_t batch = 0, tokens = 0, hidden = 0;
  std::vector<float> states;         // batch * tokens * hidden
  std::vector<uint8_t> mask;         // batch * tokens: 1 = real token
  const float* at(size_t b, size_t t) const { return states.data() + (b * tokens + t) * hidden; }
};

class TextEncoder {
 public:
  // A Hugging Face directory (config.json + model.safetensors) or a .safetensors file with
  // config.json beside it. Throws mtk::Error naming the file and the fix.
  static TextEncoder load(const std::string& path, const TextEncoderOptions& opts = {});
  // From any source, under the names above without prefix.
  static TextEncoder from_source(const TextEncoderConfig& cfg, const TensorSource& src,
                                 const TextEncoderOptions& opts = {});
  static std::vector<std::pair<std::string, std::vector<int64_t>>> tensor_shapes(const TextEncoderConfig& cfg);

  TextEncoder(TextEncoder&&) noexcept;
  TextEncoder& operator=(TextEncoder&&) noexcept;
  ~TextEncoder();

  const TextEncoderConfig& config() const;

  // Sequences of token ids (special tokens included), right-padded with pad_id to the longest.
  // token_types: per sequence (bert only), empty = all 0. Throws mtk::Error for ids out of range or
  // sequences longer than max_positions (roberta: max_positions - pad_id - 1).
  TextEncoderOutput forward(const std::vector<std::vector<int32_t>>& ids,
                            const std::vector<std::vector<int32_t>>& token_types = {}) const;
  // One vector per sequence.
  static std::vector<std::vector<float>> pool(const TextEncoderOutput& out, Pooling pooling);

  // The longest sequence forward() accepts.
  int max_tokens() const;

 private:
  struct Impl;
  explicit TextEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtk::encoders
