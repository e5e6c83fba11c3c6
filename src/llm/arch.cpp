// The architecture registry: how each supported architecture's hyper-parameters are read from
// GGUF metadata and Hugging Face config.json, and how its Hugging Face tensor names map to the
// GGUF-style names the loader uses. Adding an architecture means adding one entry here.
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "mtk/core/error.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/model_config.hpp"
#include "mtk/llm/quant.hpp"

namespace mtk::llm {

namespace {

using json = nlohmann::json;

// Per-architecture feature flags, applied on top of the common keys.
struct ArchEntry {
  const char* name;
  std::vector<const char*> hf_model_types;  // config.json "model_type" values
  bool gguf_rope_neox;                      // RoPE pairing in GGUF files
  std::function<void(ModelConfig&)> features;
  // Extra reading from GGUF / HF beyond the common keys (may be empty).
  std::function<void(ModelConfig&, const GgufFile&)> gguf_extra;
  std::function<void(ModelConfig&, const json&)> hf_extra;
  // HF layer-level tensor suffix -> GGUF suffix, beyond the common ones.
  std::map<std::string, std::string> hf_names;
};

const std::map<std::string, std::string>& common_hf_names() {
  static const std::map<std::string, std::string> m = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.bias", "attn_output.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
  };
  return m;
}

double json_num(const json& j, const char* key, double dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (!it->is_number()) throw Error(std::string("config key ") + key + " is not a number", "fix the config.json");
  return it->get<double>();
}

// Divisors of each RoPE frequency for Llama 3.1-style scaling (Hugging Face's
// _compute_llama3_parameters, written as factors the way llama.cpp stores rope_freqs).
std::vector<float> llama3_freq_factors(double base, int64_t dim, double factor, double low, double high,
                                       double original_ctx) {
  std::vector<float> out;
  const double low_wavelen = original_ctx / low;
  const double high_wavelen = original_ctx / high;
  for (int64_t i = 0; i < dim; i += 2) {
    const double inv = 1.0 / std::pow(base, static_cast<double>(i) / static_cast<double>(dim));
    const double wavelen = 2.0 * M_PI / inv;
    double scaled = inv;
    if (wavelen > low_wavelen) scaled = inv / factor;
    if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
      const double smooth = (original_ctx / wavelen - low) / (high - low);
      scaled = (1.0 - smooth) * inv / factor + smooth * inv;
    }
    out.push_back(static_cast<float>(inv / scaled));
  }
  return out;
}

// transformers 5 writes RoPE settings as rope_parameters ({rope_type, rope_theta, ...}, or per
// attention kind for Gemma 3: {"full_attention": {...}, "sliding_attention": {...}}); older
// configs use rope_theta and rope_scaling.
const json* rope_parameters(const json& cfg, const char* kind) {
  auto it = cfg.find("rope_parameters");
  if (it == cfg.end() || !it->is_object()) return nullptr;
  if (auto k = it->find(kind); k != it->end() && k->is_object()) return &*k;
  if (it->contains("full_attention") || it->contains("sliding_attention")) return nullptr;
  return &*it;
}

void hf_rope_scaling(ModelConfig& c, const json& cfg) {
  const json* rsp = nullptr;
  if (auto it = cfg.find("rope_scaling"); it != cfg.end() && !it->is_null()) rsp = &*it;
  else rsp = rope_parameters(cfg, "full_attention");
  if (!rsp) return;
  const json& rs = *rsp;
  std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
  if (type == "default") return;
  if (type == "linear") {
    c.rope_linear_factor = json_num(rs, "factor", 1.0);
  } else if (type == "llama3") {
    const int64_t dim = c.head_dim;
    c.rope_freq_factors = llama3_freq_factors(c.rope_base, dim, json_num(rs, "factor", 8.0),
                                              json_num(rs, "low_freq_factor", 1.0), json_num(rs, "high_freq_factor", 4.0),
                                              json_num(rs, "original_max_position_embeddings", 8192));
  } else {
    throw Error("unsupported rope_scaling type '" + type + "'", "supported: default, linear, llama3");
  }
}

const std::vector<ArchEntry>& registry() {
  static const std::vector<ArchEntry> r = {
      {"llama",
       {"llama", "mistral"},
       /*gguf_rope_neox=*/false,
       [](ModelConfig&) {},
       [](ModelConfig& c, const GgufFile& f) {
         // Llama 3.1+ files carry the scaled frequencies as divisors.
         if (const GgufTensor* t = f.find_tensor("rope_freqs.weight")) {
           std::vector<float> v = dequantize_tensor(*t);
           c.rope_freq_factors = std::move(v);
         }
       },
       [](ModelConfig& c, const json& cfg) {
         c.qkv_bias = cfg.value("attention_bias", false);
         c.o_bias = c.qkv_bias;
         hf_rope_scaling(c, cfg);
       },
       {}},
      {"qwen2",
       {"qwen2"},
       true,
       [](ModelConfig& c) { c.qkv_bias = true; },
       {},
       [](ModelConfig& c, const json& cfg) { hf_rope_scaling(c, cfg); },
       {}},
      {"qwen3",
       {"qwen3"},
       true,
       [](ModelConfig& c) { c.qk_norm = true; },
       {},
       [](ModelConfig& c, const json& cfg) {
         c.qkv_bias = cfg.value("attention_bias", false);
         c.o_bias = c.qkv_bias;
         hf_rope_scaling(c, cfg);
       },
       {}},
      {"gemma3",
       {"gemma3_text", "gemma3"},
       true,
       [](ModelConfig& c) {
         c.act = Activation::GeluTanh;
         c.qk_norm = true;
         c.post_norms = true;
         c.embed_scale = true;
         c.rope_base_local = 10000.0;
         c.sliding_window_pattern = 6;
       },
       [](ModelConfig& c, const GgufFile& f) {
         const std::string a = "gemma3.";
         c.sliding_window = f.get_u32(a + "attention.sliding_window", 0);
         const std::string type = f.get_string(a + "rope.scaling.type", "none");
         if (type == "linear") c.rope_linear_factor = f.get_f32(a + "rope.scaling.factor", 1.0f);
         // llama.cpp: 1/sqrt(key_length) unless the file says otherwise.
         c.attn_scale = f.get_f32(a + "attention.scale", 0.0f);
         c.final_logit_softcap = f.get_f32(a + "final_logit_softcapping", 0.0f);
         c.attn_logit_softcap = f.get_f32(a + "attn_logit_softcapping", 0.0f);
       },
       [](ModelConfig& c, const json& cfg) {
         c.norm_plus_one = true;
         c.tied_embeddings = cfg.value("tie_word_embeddings", true);
         c.sliding_window = static_cast<int64_t>(json_num(cfg, "sliding_window", 0));
         c.rope_base_local = json_num(cfg, "rope_local_base_freq", 10000.0);
         if (!cfg.contains("rope_local_base_freq"))
           if (const json* rp = rope_parameters(cfg, "sliding_attention")) c.rope_base_local = json_num(*rp, "rope_theta", 10000.0);
         c.attn_scale = 1.0 / std::sqrt(json_num(cfg, "query_pre_attn_scalar", static_cast<double>(c.head_dim)));
         c.final_logit_softcap = json_num(cfg, "final_logit_softcapping", 0.0);
         c.attn_logit_softcap = json_num(cfg, "attn_logit_softcapping", 0.0);
         const std::string act = cfg.value("hidden_activation", std::string("gelu_pytorch_tanh"));
         if (act != "gelu_pytorch_tanh" && act != "gelu_tanh")
           throw Error("gemma3 hidden_activation '" + act + "' is not supported", "use gelu_pytorch_tanh");
         if (auto lt = cfg.find("layer_types"); lt != cfg.end() && lt->is_array()) {
           c.layer_is_local.clear();
           for (const auto& t : *lt) c.layer_is_local.push_back(t.get<std::string>() == "sliding_attention");
         } else {
           c.sliding_window_pattern = static_cast<int64_t>(json_num(cfg, "sliding_window_pattern", 6));
         }
         hf_rope_scaling(c, cfg);
       },
       {{"post_attention_layernorm.weight", "post_attention_norm.weight"},
        {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
        {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"}}},
  };
  return r;
}

const ArchEntry* find_arch(const std::string& name) {
  for (const auto& e : registry())
    if (name == e.name) return &e;
  return nullptr;
}

const ArchEntry* find_arch_hf(const std::string& model_type) {
  for (const auto& e : registry())
    for (const char* t : e.hf_model_types)
      if (model_type == t) return &e;
  return nullptr;
}

std::string supported_list() {
  std::string s;
  for (const auto& e : registry()) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

}  // namespace

std::vector<std::string> supported_architectures() {
  std::vector<std::string> v;
  for (const auto& e : registry()) v.push_back(e.name);
  return v;
}

void ModelConfig::finalize(const std::string& source) {
  auto need = [&](int64_t v, const char* what) {
    if (v <= 0) throw Error(source + ": " + what + " is missing or not positive", "check the model file");
  };
  need(vocab_size, "vocab size");
  need(hidden, "hidden size (embedding_length)");
  need(n_layers, "layer count (block_count)");
  need(n_heads, "head count");
  need(n_kv_heads, "key/value head count");
  need(head_dim, "head dimension");
  need(intermediate, "feed-forward length");
  if (n_heads % n_kv_heads != 0)
    throw Error(source + ": head count " + std::to_string(n_heads) + " is not a multiple of the key/value head count " +
                    std::to_string(n_kv_heads),
                "check the model file");
  if (rope_dim == 0) rope_dim = head_dim;
  if (rope_dim > head_dim || rope_dim % 2 != 0)
    throw Error(source + ": RoPE dimension " + std::to_string(rope_dim) + " is invalid for head dimension " +
                    std::to_string(head_dim),
                "check the model file");
  if (!rope_freq_factors.empty() && static_cast<int64_t>(rope_freq_factors.size()) != rope_dim / 2)
    throw Error(source + ": rope_freqs has " + std::to_string(rope_freq_factors.size()) + " values, expected " +
                    std::to_string(rope_dim / 2),
                "check the model file");
  if (!(rms_eps > 0)) throw Error(source + ": RMSNorm epsilon must be positive", "check the model file");
  if (static_cast<int64_t>(layer_is_local.size()) != n_layers) {
    if (!layer_is_local.empty())
      throw Error(source + ": layer_types has " + std::to_string(layer_is_local.size()) + " entries for " +
                      std::to_string(n_layers) + " layers",
                  "check config.json");
    layer_is_local.assign(static_cast<size_t>(n_layers), false);
    if (sliding_window > 0 && sliding_window_pattern > 0)
      for (int64_t i = 0; i < n_layers; ++i) layer_is_local[i] = (i + 1) % sliding_window_pattern != 0;
  }
  if (sliding_window <= 0) layer_is_local.assign(static_cast<size_t>(n_layers), false);
}

double ModelConfig::scale() const { return attn_scale > 0 ? attn_scale : 1.0 / std::sqrt(static_cast<double>(head_dim)); }

std::string ModelConfig::summary() const {
  std::ostringstream o;
  o << arch << ": " << n_layers << " layers, hidden " << hidden << ", heads " << n_heads << "/" << n_kv_heads << " x "
    << head_dim << ", ffn " << intermediate << ", vocab " << vocab_size << ", rope " << (rope_neox ? "neox" : "normal")
    << " base " << rope_base;
  if (sliding_window > 0) o << " (local: window " << sliding_window << ", base " << rope_base_local << ")";
  if (!rope_freq_factors.empty()) o << ", scaled frequencies";
  if (tied_embeddings) o << ", tied embeddings";
  return o.str();
}

ModelConfig config_from_gguf(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  const ArchEntry* e = find_arch(arch);
  if (!e)
    throw Error(f.path() + ": architecture '" + arch + "' is not supported",
                "use a model of a supported architecture (" + supported_list() + ")");
  ModelConfig c;
  c.arch = arch;
  e->features(c);
  c.rope_neox = e->gguf_rope_neox;
  const std::string a = arch + ".";
  c.hidden = f.get_u32(a + "embedding_length");
  c.n_layers = f.get_u32(a + "block_count");
  c.n_heads = f.get_u32(a + "attention.head_count");
  c.n_kv_heads = f.get_u32(a + "attention.head_count_kv", static_cast<uint32_t>(c.n_heads));
  c.head_dim = f.get_u32(a + "attention.key_length", c.n_heads > 0 ? static_cast<uint32_t>(c.hidden / c.n_heads) : 0);
  const int64_t vlen = f.get_u32(a + "attention.value_length", static_cast<uint32_t>(c.head_dim));
  if (vlen != c.head_dim)
    throw Error(f.path() + ": key length " + std::to_string(c.head_dim) + " differs from value length " +
                    std::to_string(vlen),
                "models with different key and value head sizes are not supported");
  c.intermediate = f.get_u32(a + "feed_forward_length");
  c.context_length = f.get_u32(a + "context_length", 4096);
  c.rms_eps = f.get_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  c.rope_base = f.get_f32(a + "rope.freq_base", 10000.0f);
  c.rope_dim = f.get_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  const GgufTensor* emb = f.find_tensor("token_embd.weight");
  if (!emb) throw Error(f.path() + ": tensor token_embd.weight is missing", "the file is not a complete model");
  c.vocab_size = static_cast<int64_t>(emb->n_rows());
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  if (e->gguf_extra) e->gguf_extra(c, f);
  if (arch == "llama" && f.get_string(a + "rope.scaling.type", "none") == "linear")
    c.rope_linear_factor = f.get_f32(a + "rope.scaling.factor", 1.0f);
  c.finalize(f.path());
  return c;
}

ModelConfig config_from_hf(const json& config_in, const std::string& source) {
  const json* cfgp = &config_in;
  // Multimodal wrappers (gemma3) keep the language model's settings in text_config.
  if (auto it = config_in.find("text_config"); it != config_in.end() && it->is_object()) cfgp = &*it;
  const json& cfg = *cfgp;
  std::string model_type = cfg.value("model_type", config_in.value("model_type", std::string()));
  const ArchEntry* e = find_arch_hf(model_type);
  if (!e)
    throw Error(source + ": model_type '" + model_type + "' is not supported",
                "use a model of a supported architecture (" + supported_list() + ")");
  try {
    ModelConfig c;
    c.arch = e->name;
    e->features(c);
    c.rope_neox = true;
    c.vocab_size = cfg.at("vocab_size").get<int64_t>();
    c.hidden = cfg.at("hidden_size").get<int64_t>();
    c.n_layers = cfg.at("num_hidden_layers").get<int64_t>();
    c.n_heads = cfg.at("num_attention_heads").get<int64_t>();
    c.n_kv_heads = cfg.value("num_key_value_heads", c.n_heads);
    c.head_dim = c.n_heads > 0 ? c.hidden / c.n_heads : 0;
    if (auto it = cfg.find("head_dim"); it != cfg.end() && !it->is_null()) c.head_dim = it->get<int64_t>();
    c.intermediate = cfg.at("intermediate_size").get<int64_t>();
    c.context_length = cfg.value("max_position_embeddings", int64_t{4096});
    c.rms_eps = json_num(cfg, "rms_norm_eps", 1e-6);
    c.rope_base = json_num(cfg, "rope_theta", 10000.0);
    if (!cfg.contains("rope_theta"))
      if (const json* rp = rope_parameters(cfg, "full_attention")) c.rope_base = json_num(*rp, "rope_theta", 10000.0);
    c.tied_embeddings = cfg.value("tie_word_embeddings", config_in.value("tie_word_embeddings", false));
    if (e->hf_extra) e->hf_extra(c, cfg);
    c.finalize(source);
    return c;
  } catch (const json::exception& ex) {
    throw Error(source + ": " + ex.what(), "fix the config.json");
  }
}

std::string hf_to_gguf_name(const std::string& arch, const std::string& name) {
  const ArchEntry* e = find_arch(arch);
  if (!e) return "";
  std::string n = name;
  if (n.rfind("model.language_model.", 0) == 0) n = "model." + n.substr(21);  // gemma3 multimodal wrapper
  if (n == "model.embed_tokens.weight") return "token_embd.weight";
  if (n == "model.norm.weight") return "output_norm.weight";
  if (n == "lm_head.weight") return "output.weight";
  static const std::string prefix = "model.layers.";
  if (n.rfind(prefix, 0) != 0) return "";
  const size_t dot = n.find('.', prefix.size());
  if (dot == std::string::npos) return "";
  const std::string layer = n.substr(prefix.size(), dot - prefix.size());
  const std::string rest = n.substr(dot + 1);
  if (auto it = e->hf_names.find(rest); it != e->hf_names.end()) return "blk." + layer + "." + it->second;
  if (auto it = common_hf_names().find(rest); it != common_hf_names().end()) return "blk." + layer + "." + it->second;
  return "";
}

}  // namespace mtk::llm
