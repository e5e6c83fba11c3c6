// Batched generation with a KV cache, sampling, streaming and stopping (see generate.hpp).
#include "mtk/llm/generate.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "mtk/core/error.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/lora.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/model_info.hpp"
#include "mtk/llm/tokenizer.hpp"

namespace mtk::llm {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Length of the longest prefix of `s` that does not end inside a UTF-8 character.
size_t complete_utf8_prefix(const std::string& s) {
  size_t n = s.size();
  // Look back at most 3 bytes for an unfinished lead byte.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return back < need ? n - back : n;
  }
  return n;
}

}  // namespace

Sampler::Sampler(const GenerateOptions& opt, uint64_t stream) : opt_(opt) {
  uint64_t x = opt.seed ^ (0xD1B54A32D192ED03ull * (stream + 1));
  for (auto& s : state_) s = splitmix64(x);
}

double Sampler::uniform() {  // xoshiro256**
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

int32_t Sampler::sample(const float* logits, int64_t vocab, const std::vector<int32_t>& seen, float* logprob) {
  const double T = opt_.temperature > 0 ? opt_.temperature : 1.0;
  // Log-probability reference: log_softmax(raw / T).
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < vocab; ++i) mx = std::max(mx, static_cast<double>(logits[i]) / T);
  double z = 0;
  for (int64_t i = 0; i < vocab; ++i) z += std::exp(static_cast<double>(logits[i]) / T - mx);
  const double log_z = mx + std::log(z);

  work_.assign(logits, logits + vocab);
  if (opt_.repetition_penalty != 1.0) {
    const float p = static_cast<float>(opt_.repetition_penalty);
    std::vector<bool> done(static_cast<size_t>(vocab), false);
    for (int32_t t : seen) {
      if (t < 0 || t >= vocab || done[static_cast<size_t>(t)]) continue;
      done[static_cast<size_t>(t)] = true;
      float& l = work_[static_cast<size_t>(t)];
      l = l > 0 ? l / p : l * p;
    }
  }
  int32_t chosen = 0;
  if (opt_.temperature <= 0) {
    for (int64_t i = 1; i < vocab; ++i)
      if (work_[static_cast<size_t>(i)] > work_[static_cast<size_t>(chosen)]) chosen = static_cast<int32_t>(i);
  } else {
    const float invT = static_cast<float>(1.0 / opt_.temperature);
    cand_.resize(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) cand_[static_cast<size_t>(i)] = {work_[static_cast<size_t>(i)] * invT, static_cast<int32_t>(i)};
    auto desc = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    size_t n = cand_.size();
    size_t sorted = 0;  // cand_[0, sorted) is sorted descending and holds the largest
    auto sort_prefix = [&](size_t k) {
      k = std::min(k, n);
      if (k <= sorted) return;
      std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(k), cand_.begin() + static_cast<std::ptrdiff_t>(n), desc);
      sorted = k;
    };
    if (opt_.top_k > 0 && static_cast<size_t>(opt_.top_k) < n) {
      std::nth_element(cand_.begin(), cand_.begin() + opt_.top_k, cand_.end(), desc);
      n = static_cast<size_t>(opt_.top_k);
    }
    // Probabilities over the n candidates.
    float cmax = -std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < n; ++i) cmax = std::max(cmax, cand_[i].first);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(cand_[i].first - cmax));
    auto prob = [&](size_t i) { return std::exp(static_cast<double>(cand_[i].first - cmax)) / sum; };
    if (opt_.top_p < 1.0) {
      // Grow the sorted prefix until it covers top_p of the mass.
      size_t k = 64;
      for (;;) {
        sort_prefix(k);
        double cum = 0;
        size_t keep = 0;
        for (; keep < sorted; ++keep) {
          cum += prob(keep);
          if (cum >= opt_.top_p) {
            ++keep;
            break;
          }
        }
        if (cum >= opt_.top_p || sorted == n) {
          n = std::max<size_t>(1, std::min(keep, sorted));
          break;
        }
        k *= 8;
      }
    }
    if (opt_.min_p > 0) {
      const double thr = std::log(opt_.min_p);  // p_i / p_max >= min_p
      size_t w = 0;
      for (size_t i = 0; i < n; ++i)
        if (static_cast<double>(cand_[i].first - cmax) >= thr) cand_[w++] = cand_[i];
      n = std::max<size_t>(w, 1);
      sorted = std::min(sorted, n);
    }
    double total = 0;
    for (size_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(cand_[i].first - cmax));
    double r = uniform() * total;
    chosen = cand_[n - 1].second;
    for (size_t i = 0; i < n; ++i) {
      r -= std::exp(static_cast<double>(cand_[i].first - cmax));
      if (r < 0) {
        chosen = cand_[i].second;
        break;
      }
    }
  }
  if (logprob) *logprob = static_cast<float>(static_cast<double>(logits[chosen]) / T - log_z);
  return chosen;
}

std::vector<int32_t> end_of_generation_ids(const Tokenizer& tok) {
  std::vector<int32_t> ids;
  if (tok.eos() >= 0) ids.push_back(tok.eos());
  for (const char* t : {"<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                        "<|end|>", "<eos>", "</s>"}) {
    const int32_t id = tok.token_id(t);
    if (id >= 0 && tok.token_type(id) == TokenType::Control && std::find(ids.begin(), ids.end(), id) == ids.end())
      ids.push_back(id);
  }
  return ids;
}

std::vector<Generation> generate(const Model& model, const Tokenizer& tok, const std::vector<std::vector<int32_t>>& prompts,
                                 const GenerateOptions& opt, const StreamCallback& on_text) {
  c10::InferenceMode guard;
  const int64_t B = static_cast<int64_t>(prompts.size());
  std::vector<Generation> out(prompts.size());
  if (B == 0) return out;
  if (opt.max_new_tokens < 0) throw Error("max_new_tokens must be >= 0", "pass a non-negative --max-tokens");
  const int64_t vocab = model.config().vocab_size;
  size_t maxlen = 0;
  for (size_t b = 0; b < prompts.size(); ++b) {
    if (prompts[b].empty()) throw Error("prompt " + std::to_string(b) + " has no tokens", "pass a non-empty prompt");
    for (int32_t t : prompts[b])
      if (t < 0 || t >= vocab)
        throw Error("prompt token id " + std::to_string(t) + " is outside the model's vocabulary (" + std::to_string(vocab) + ")",
                    "use the model's own tokenizer");
    maxlen = std::max(maxlen, prompts[b].size());
    out[b].prompt_tokens = prompts[b];
  }
  if (opt.max_new_tokens == 0) {
    for (auto& g : out) g.finish_reason = "length";
    return out;
  }
  const std::vector<int32_t> eog = opt.ignore_eos ? std::vector<int32_t>{} : end_of_generation_ids(tok);
  const int64_t L = static_cast<int64_t>(maxlen);
  std::vector<int64_t> pad(prompts.size());
  at::Tensor toks = at::zeros({B, L}, at::kLong);
  int64_t* tp = toks.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    pad[b] = L - static_cast<int64_t>(prompts[b].size());
    for (size_t j = 0; j < prompts[b].size(); ++j) tp[b * L + pad[b] + static_cast<int64_t>(j)] = prompts[b][j];
  }
  KvCache cache = model.new_cache(pad, L + opt.max_new_tokens);
  at::Tensor logits = model.forward(toks, &cache, /*last_only=*/true).to(at::kCPU).contiguous();

  std::vector<Sampler> samplers;
  std::vector<std::vector<int32_t>> seen(prompts.begin(), prompts.end());
  std::vector<std::string> raw(prompts.size());  // generated bytes (control tokens skipped)
  std::vector<size_t> streamed(prompts.size(), 0);
  for (int64_t b = 0; b < B; ++b) samplers.emplace_back(opt, static_cast<uint64_t>(b));
  std::vector<int64_t> alive(prompts.size());
  for (int64_t b = 0; b < B; ++b) alive[b] = b;

  for (int step = 0; step < opt.max_new_tokens && !alive.empty(); ++step) {
    std::vector<int64_t> next_alive, keep_rows;
    std::vector<int64_t> next_tokens;
    const float* lp = logits.data_ptr<float>();
    for (size_t r = 0; r < alive.size(); ++r) {
      const size_t b = static_cast<size_t>(alive[r]);
      Generation& g = out[b];
      float logprob = 0;
      const int32_t t = samplers[b].sample(lp + r * vocab, vocab, seen[b], &logprob);
      g.tokens.push_back(t);
      g.logprobs.push_back(logprob);
      seen[b].push_back(t);
      bool done = false;
      if (std::find(eog.begin(), eog.end(), t) != eog.end()) {
        g.finish_reason = "eos";
        done = true;
      } else if (!tok.is_special(t)) {
        const size_t before = raw[b].size();
        raw[b] += tok.token_text(t);
        for (const std::string& s : opt.stop) {
          if (s.empty()) continue;
          const size_t from = before >= s.size() ? before - s.size() + 1 : 0;
          const size_t at = raw[b].find(s, from);
          if (at != std::string::npos) {
            raw[b].resize(at);
            g.finish_reason = "stop";
            done = true;
            break;
          }
        }
      }
      if (!done && static_cast<int>(g.tokens.size()) >= opt.max_new_tokens) {
        g.finish_reason = "length";
        done = true;
      }
      if (on_text) {
        // Hold back a possible stop-string prefix at the end, and incomplete UTF-8.
        size_t hold = 0;
        if (!done)
          for (const std::string& s : opt.stop)
            for (size_t k = std::min(s.size() - (s.empty() ? 0 : 1), raw[b].size()); k > hold; --k)
              if (raw[b].compare(raw[b].size() - k, k, s, 0, k) == 0) {
                hold = k;
                break;
              }
        size_t upto = done ? raw[b].size() : complete_utf8_prefix(raw[b].substr(0, raw[b].size() - hold));
        if (upto > streamed[b]) {
          on_text(b, raw[b].substr(streamed[b], upto - streamed[b]));
          streamed[b] = upto;
        }
      }
      if (done) {
        g.text = raw[b];
      } else {
        next_alive.push_back(static_cast<int64_t>(b));
        keep_rows.push_back(static_cast<int64_t>(r));
        next_tokens.push_back(t);
      }
    }
    alive = std::move(next_alive);
    if (alive.empty()) break;
    cache.select(keep_rows);
    const at::Tensor nt = at::tensor(next_tokens, at::kLong).view({static_cast<int64_t>(alive.size()), 1});
    logits = model.forward(nt, &cache, true).to(at::kCPU).contiguous();
  }
  return out;
}

std::optional<ChatFormat> chat_format_from_vocabulary(const Tokenizer& tok) {
  if (tok.token_id("<start_of_turn>") >= 0) return ChatFormat::gemma;
  if (tok.token_id("<|start_header_id|>") >= 0) return ChatFormat::llama3;
  if (tok.token_id("<|im_start|>") >= 0) return ChatFormat::chatml;
  if (tok.token_id("[INST]") >= 0) return ChatFormat::mistral;
  return std::nullopt;
}

// ---- LanguageModel ----------------------------------------------------------------------------

struct LanguageModel::Impl {
  std::string path;
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  ChatTemplateSpec chat;
};

LanguageModel::LanguageModel() : impl_(std::make_unique<Impl>()) {}
LanguageModel::~LanguageModel() = default;

std::unique_ptr<LanguageModel> LanguageModel::load(const std::string& name_or_path, const Options& opt) {
  if (opt.threads > 0) at::set_num_threads(opt.threads);
  std::unique_ptr<LanguageModel> lm(new LanguageModel());
  Impl& m = *lm->impl_;
  m.path = resolve_model(name_or_path);
  LoadOptions lo;
  lo.dtype = opt.dtype;
  lo.device = opt.device;
  lo.quantize = opt.quantize;
  lo.llamacpp_numerics = opt.llamacpp_numerics;
  if (std::filesystem::is_directory(m.path)) {
    load_hf_language_model(m.path, lo, opt.chat_format, m.model, m.tok, m.chat);
  } else {
    m.gguf = std::make_unique<GgufFile>(GgufFile::open(m.path));
    m.model = Model::from_gguf(*m.gguf, lo);
    m.tok = load_tokenizer(*m.gguf);
    std::optional<ChatFormat> format = opt.chat_format;
    if (!format && !m.gguf->has("tokenizer.chat_template")) format = chat_format_from_vocabulary(*m.tok);
    m.chat = chat_template_spec(*m.gguf, format);
  }
  if (m.tok->vocab_size() > m.model->config().vocab_size)
    throw Error(m.path + ": the tokenizer has " + std::to_string(m.tok->vocab_size()) + " tokens but the model only " +
                    std::to_string(m.model->config().vocab_size),
                "the tokenizer does not belong to this model");
  return lm;
}

const Model& LanguageModel::model() const { return *impl_->model; }
Model& LanguageModel::mutable_model() { return *impl_->model; }

void LanguageModel::load_adapter(const std::string& dir) {
  impl_->model->set_adapter(dir.empty() ? nullptr : LoraSet::load(dir, *impl_->model));
}
const Tokenizer& LanguageModel::tokenizer() const { return *impl_->tok; }
const ChatTemplateSpec& LanguageModel::chat_template() const { return impl_->chat; }
const std::string& LanguageModel::path() const { return impl_->path; }

std::string LanguageModel::chat_prompt(const std::vector<ChatMessage>& messages) const {
  return apply_chat_template(impl_->chat, messages, true);
}

std::vector<int32_t> LanguageModel::encode_prompt(const std::string& text) const {
  // A chat prompt already starts with the BOS text where the template writes one.
  std::vector<int32_t> ids = impl_->tok->encode(text, true, true);
  const int32_t bos = impl_->tok->bos();
  if (ids.size() >= 2 && bos >= 0 && ids[0] == bos && ids[1] == bos) ids.erase(ids.begin());
  return ids;
}

std::vector<Generation> LanguageModel::generate(const std::vector<std::string>& prompts, const GenerateOptions& opt,
                                                const StreamCallback& on_text) const {
  std::vector<std::vector<int32_t>> ids;
  for (const auto& p : prompts) ids.push_back(encode_prompt(p));
  return llm::generate(*impl_->model, *impl_->tok, ids, opt, on_text);
}

}  // namespace mtk::llm
