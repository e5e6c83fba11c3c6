// LoRA adapters (lora.hpp): creation, the adapter term, the frozen-base linear with autograd, and
// peft-format export/import.
#include "mtk/llm/lora.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/gguf_write.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/safetensors.hpp"

namespace mtk::llm {

namespace {

const char* const kSlotNames[kLoraSlots] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

const Weight& slot_weight(const LayerWeights& L, LoraSlot s) {
  switch (s) {
    case LoraSlot::q: return L.q;
    case LoraSlot::k: return L.k;
    case LoraSlot::v: return L.v;
    case LoraSlot::o: return L.o;
    case LoraSlot::gate: return L.gate;
    case LoraSlot::up: return L.up;
    case LoraSlot::down: return L.down;
  }
  return L.q;
}

// llama.cpp's tensor names of the seven projections.
const char* const kGgufSlotNames[kLoraSlots] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
std::string gguf_lora_name(int64_t layer, int slot, bool is_a) {
  return "blk." + std::to_string(layer) + "." + kGgufSlotNames[slot] + (is_a ? ".weight.lora_a" : ".weight.lora_b");
}

std::string peft_name(int64_t layer, LoraSlot s, bool is_a) {
  const bool attn = static_cast<int>(s) <= static_cast<int>(LoraSlot::o);
  return "base_model.model.model.layers." + std::to_string(layer) + (attn ? ".self_attn." : ".mlp.") +
         kSlotNames[static_cast<int>(s)] + (is_a ? ".lora_A.weight" : ".lora_B.weight");
}

// GGUF llama q/k row order <-> Hugging Face's: llama.cpp's converter maps HF rows viewed as
// [heads, 2, hd/2] to [heads, hd/2, 2].
at::Tensor gguf_rows_to_hf(const at::Tensor& b, int64_t heads) {
  const int64_t out = b.size(0), hd = out / heads;
  return b.reshape({heads, hd / 2, 2, -1}).transpose(1, 2).reshape({out, -1}).contiguous();
}
at::Tensor hf_rows_to_gguf(const at::Tensor& b, int64_t heads) {
  const int64_t out = b.size(0), hd = out / heads;
  return b.reshape({heads, 2, hd / 2, -1}).transpose(1, 2).reshape({out, -1}).contiguous();
}

std::unique_ptr<LoraSet::Impl> empty_impl(const Model& model, const LoraConfig& cfg) {
  if (cfg.r <= 0) throw Error("LoRA rank r must be positive, got " + std::to_string(cfg.r), "set lora.r to 8");
  if (cfg.dropout != 0.0)
    throw Error("LoRA dropout " + std::to_string(cfg.dropout) + " is not supported", "set lora.dropout to 0 (the paper's value)");
  auto impl = std::make_unique<LoraSet::Impl>();
  impl->cfg = cfg;
  const ModelConfig& c = model.config();
  impl->n_layers = c.n_layers;
  impl->arch = c.arch;
  for (const auto& t : cfg.targets) impl->active[static_cast<int>(lora_slot_from_name(t))] = true;
  impl->A.assign(static_cast<size_t>(c.n_layers), std::vector<at::Tensor>(kLoraSlots));
  impl->B = impl->A;
  impl->permuted_qk = !c.rope_neox;
  impl->n_heads = c.n_heads;
  impl->n_kv_heads = c.n_kv_heads;
  return impl;
}

}  // namespace

const char* lora_slot_name(LoraSlot s) { return kSlotNames[static_cast<int>(s)]; }

LoraSlot lora_slot_from_name(const std::string& name) {
  for (int i = 0; i < kLoraSlots; ++i) {
    const std::string n = kSlotNames[i];
    if (name == n || name == n.substr(0, n.size() - 5)) return static_cast<LoraSlot>(i);
  }
  throw Error("unknown LoRA target '" + name + "'",
              "use q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or down_proj");
}

LoraSet::LoraSet() = default;
LoraSet::~LoraSet() = default;
const LoraConfig& LoraSet::config() const { return impl_->cfg; }

int64_t LoraSet::parameter_count() const {
  int64_t n = 0;
  for (const auto& t : lora_parameters(*this)) n += t.numel();
  return n;
}

std::shared_ptr<LoraSet> LoraSet::create(const Model& model, const LoraConfig& cfg, uint64_t seed) {
  std::shared_ptr<LoraSet> set(new LoraSet());
  set->impl_ = empty_impl(model, cfg);
  Impl& m = *set->impl_;
  std::mt19937_64 rng(seed);
  const auto dt = model.dtype();
  for (int64_t i = 0; i < m.n_layers; ++i) {
    for (int s = 0; s < kLoraSlots; ++s) {
      if (!m.active[s]) continue;
      const Weight& w = slot_weight(model.weights().layers[static_cast<size_t>(i)], static_cast<LoraSlot>(s));
      // kaiming_uniform_(a=sqrt(5)) on [r, in]: bound = sqrt(6 / ((1 + 5) * in)) = 1 / sqrt(in).
      const double bound = 1.0 / std::sqrt(static_cast<double>(w.in));
      at::Tensor a = at::empty({cfg.r, w.in}, at::kDouble);
      double* p = a.data_ptr<double>();
      for (int64_t j = 0; j < a.numel(); ++j) {
        const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
        p[j] = (2.0 * u - 1.0) * bound;
      }
      m.A[static_cast<size_t>(i)][static_cast<size_t>(s)] = a.to(model.device(), dt).requires_grad_(true);
      m.B[static_cast<size_t>(i)][static_cast<size_t>(s)] =
          at::zeros({w.out, cfg.r}, at::TensorOptions().dtype(dt).device(model.device())).requires_grad_(true);
    }
  }
  return set;
}

std::vector<at::Tensor> lora_parameters(const LoraSet& set) {
  const auto& m = set.impl();
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < m.n_layers; ++i)
    for (int s = 0; s < kLoraSlots; ++s)
      if (m.active[s]) {
        out.push_back(m.A[static_cast<size_t>(i)][static_cast<size_t>(s)]);
        out.push_back(m.B[static_cast<size_t>(i)][static_cast<size_t>(s)]);
      }
  return out;
}

std::vector<std::string> lora_parameter_names(const LoraSet& set) {
  const auto& m = set.impl();
  std::vector<std::string> out;
  for (int64_t i = 0; i < m.n_layers; ++i)
    for (int s = 0; s < kLoraSlots; ++s)
      if (m.active[s]) {
        out.push_back(peft_name(i, static_cast<LoraSlot>(s), true));
        out.push_back(peft_name(i, static_cast<LoraSlot>(s), false));
      }
  return out;
}

at::Tensor lora_apply(const LoraSet& set, int64_t layer, LoraSlot slot, const at::Tensor& x, const at::Tensor& y) {
  const auto& m = set.impl();
  if (!m.active[static_cast<int>(slot)]) return y;
  const at::Tensor& A = m.A[static_cast<size_t>(layer)][static_cast<size_t>(slot)];
  const at::Tensor& B = m.B[static_cast<size_t>(layer)][static_cast<size_t>(slot)];
  return y + at::linear(at::linear(x, A), B) * m.cfg.scale();
}

// ---- frozen base linear with autograd to the input --------------------------------------------

namespace {

struct FrozenLinear : public torch::autograd::Function<FrozenLinear> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const Weight* w) {
    ctx->saved_data["w"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(w));
    return w->linear(x.detach());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const Weight* w = reinterpret_cast<const Weight*>(static_cast<intptr_t>(ctx->saved_data["w"].toInt()));
    const at::Tensor g = grads[0];
    auto shape = g.sizes().vec();
    shape.back() = w->in;
    const int64_t rows = g.numel() / w->out;
    const at::Tensor g2 = g.reshape({rows, w->out}).contiguous();
    at::Tensor W = w->dequantized();  // transient: freed when this backward returns
    if (W.scalar_type() != g.scalar_type()) W = W.to(g.scalar_type());
    at::Tensor dx = at::empty({rows, w->in}, g2.options());
    // BLAS is single-threaded (model.cpp): split the rows over the intra-op threads.
    const int64_t threads = at::get_num_threads();
    const int64_t chunk = std::max<int64_t>(16, (rows + threads - 1) / threads);
    at::parallel_for(0, (rows + chunk - 1) / chunk, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t r0 = c * chunk, r1 = std::min(rows, r0 + chunk);
        at::Tensor part = dx.narrow(0, r0, r1 - r0);
        at::mm_out(part, g2.narrow(0, r0, r1 - r0), W);
      }
    });
    return {dx.view(shape), at::Tensor()};
  }
};

}  // namespace

at::Tensor frozen_linear(const Weight& w, const at::Tensor& x, const at::Tensor& bias) {
  at::Tensor y = FrozenLinear::apply(x, &w);
  return bias.defined() ? y + bias : y;
}

// ---- safetensors / peft ------------------------------------------------------------------------

void write_safetensors_f32(const std::string& path, const std::vector<std::string>& names,
                           const std::vector<at::Tensor>& tensors) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  std::vector<at::Tensor> cpu;
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    at::Tensor t = tensors[i].detach().to(at::kCPU, at::kFloat).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * 4;
    header[names[i]] = {{"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(t);
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');
  std::string out(8, '\0');
  const uint64_t n = h.size();
  for (int b = 0; b < 8; ++b) out[static_cast<size_t>(b)] = static_cast<char>((n >> (8 * b)) & 0xff);
  out += h;
  for (const auto& t : cpu) out.append(reinterpret_cast<const char*>(t.data_ptr<float>()), static_cast<size_t>(t.numel()) * 4);
  fs::atomic_write(path, out);
}

void LoraSet::save_peft(const std::string& dir, const std::string& base_model) const {
  const Impl& m = *impl_;
  std::filesystem::create_directories(dir);
  std::vector<std::string> names;
  std::vector<at::Tensor> ts;
  for (int64_t i = 0; i < m.n_layers; ++i)
    for (int s = 0; s < kLoraSlots; ++s) {
      if (!m.active[s]) continue;
      at::Tensor b = m.B[static_cast<size_t>(i)][static_cast<size_t>(s)].detach();
      if (m.permuted_qk && (s == 0 || s == 1)) b = gguf_rows_to_hf(b, s == 0 ? m.n_heads : m.n_kv_heads);
      names.push_back(peft_name(i, static_cast<LoraSlot>(s), true));
      ts.push_back(m.A[static_cast<size_t>(i)][static_cast<size_t>(s)]);
      names.push_back(peft_name(i, static_cast<LoraSlot>(s), false));
      ts.push_back(b);
    }
  write_safetensors_f32(dir + "/adapter_model.safetensors", names, ts);
  nlohmann::ordered_json cfg;
  std::vector<std::string> targets;
  for (int s = 0; s < kLoraSlots; ++s)
    if (m.active[s]) targets.push_back(kSlotNames[s]);
  cfg["alpha_pattern"] = nlohmann::json::object();
  cfg["base_model_name_or_path"] = base_model;
  cfg["bias"] = "none";
  cfg["fan_in_fan_out"] = false;
  cfg["inference_mode"] = true;
  cfg["init_lora_weights"] = true;
  cfg["layers_to_transform"] = nullptr;
  cfg["lora_alpha"] = m.cfg.alpha;
  cfg["lora_dropout"] = m.cfg.dropout;
  cfg["modules_to_save"] = nullptr;
  cfg["peft_type"] = "LORA";
  cfg["r"] = m.cfg.r;
  cfg["rank_pattern"] = nlohmann::json::object();
  cfg["target_modules"] = targets;
  cfg["task_type"] = "CAUSAL_LM";
  cfg["use_dora"] = false;
  cfg["use_rslora"] = false;
  fs::atomic_write(dir + "/adapter_config.json", cfg.dump(2) + "\n");
}

std::shared_ptr<LoraSet> LoraSet::load_peft(const std::string& dir, const Model& model) {
  const std::string cfg_path = dir + "/adapter_config.json";
  const std::string st_path = dir + "/adapter_model.safetensors";
  if (!std::filesystem::exists(cfg_path) || !std::filesystem::exists(st_path))
    throw Error("adapter directory " + dir + " lacks adapter_config.json or adapter_model.safetensors",
                "pass a directory written by manim-train or peft's save_pretrained");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(fs::read_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(cfg_path + ": " + e.what(), "fix the JSON");
  }
  if (j.value("peft_type", std::string("LORA")) != "LORA")
    throw Error(cfg_path + ": peft_type is not LORA", "only LoRA adapters are supported");
  if (j.value("use_dora", false) || j.value("use_rslora", false))
    throw Error(cfg_path + ": DoRA/rsLoRA adapters are not supported", "train a plain LoRA adapter");
  LoraConfig c;
  c.r = j.at("r").get<int>();
  c.alpha = j.at("lora_alpha").get<double>();
  c.targets.clear();
  const auto& tm = j.at("target_modules");
  if (tm.is_string()) throw Error(cfg_path + ": target_modules as a pattern is not supported", "list the modules");
  for (const auto& t : tm) c.targets.push_back(t.get<std::string>());
  std::shared_ptr<LoraSet> set(new LoraSet());
  set->impl_ = empty_impl(model, c);
  Impl& m = *set->impl_;
  const SafetensorsFile f = SafetensorsFile::open(st_path);
  const auto dt = model.dtype();
  for (int64_t i = 0; i < m.n_layers; ++i)
    for (int s = 0; s < kLoraSlots; ++s) {
      if (!m.active[s]) continue;
      const Weight& w = slot_weight(model.weights().layers[static_cast<size_t>(i)], static_cast<LoraSlot>(s));
      for (bool is_a : {true, false}) {
        std::string name = peft_name(i, static_cast<LoraSlot>(s), is_a);
        const SafeTensorInfo* t = f.find(name);
        if (!t) {  // peft also writes names without the ".weight" adapter suffix variants
          throw Error(st_path + ": tensor " + name + " is missing", "the adapter does not belong to this model");
        }
        const std::vector<int64_t> want = is_a ? std::vector<int64_t>{c.r, w.in} : std::vector<int64_t>{w.out, c.r};
        if (t->shape.size() != 2 || static_cast<int64_t>(t->shape[0]) != want[0] || static_cast<int64_t>(t->shape[1]) != want[1])
          throw Error(st_path + ": tensor " + name + " has the wrong shape", "the adapter does not belong to this model");
        at::Tensor v = at::empty(want, at::kFloat);
        safetensor_to_f32(*t, v.data_ptr<float>());
        if (!is_a && m.permuted_qk && (s == 0 || s == 1)) v = hf_rows_to_gguf(v, s == 0 ? m.n_heads : m.n_kv_heads);
        v = v.to(model.device(), dt).contiguous();
        (is_a ? m.A : m.B)[static_cast<size_t>(i)][static_cast<size_t>(s)] = v;
      }
    }
  return set;
}

void LoraSet::save_gguf(const std::string& path) const {
  const Impl& m = *impl_;
  GgufWriter w;
  w.kv_string("general.architecture", m.arch)
      .kv_string("general.type", "adapter")
      .kv_string("general.name", "manim-train LoRA")
      .kv_string("adapter.type", "lora")
      .kv_f32("adapter.lora.alpha", static_cast<float>(m.cfg.alpha));
  for (int64_t i = 0; i < m.n_layers; ++i)
    for (int s = 0; s < kLoraSlots; ++s) {
      if (!m.active[s]) continue;
      for (bool is_a : {true, false}) {
        const at::Tensor t = (is_a ? m.A : m.B)[static_cast<size_t>(i)][static_cast<size_t>(s)]
                                 .detach().to(at::kCPU, at::kFloat).contiguous();
        w.tensor_f32(gguf_lora_name(i, s, is_a), {t.size(0), t.size(1)}, t.data_ptr<float>());
      }
    }
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  w.write(path);
}

std::shared_ptr<LoraSet> LoraSet::load_gguf(const std::string& path, const Model& model) {
  const GgufFile f = GgufFile::open(path);
  const std::string fix = "pass a LoRA adapter GGUF written for this base (manim-train's adapter.gguf or llama.cpp's "
                          "convert_lora_to_gguf.py)";
  if (f.get_string("general.type", "") != "adapter" || f.get_string("adapter.type", "") != "lora")
    throw Error(path + " is not a LoRA adapter (general.type \"" + f.get_string("general.type", "") +
                    "\", adapter.type \"" + f.get_string("adapter.type", "") + "\")",
                fix);
  const std::string arch = f.get_string("general.architecture", "");
  if (arch != model.config().arch)
    throw Error(path + " is an adapter for a " + arch + " model, the base is " + model.config().arch, fix);
  LoraConfig c;
  c.targets.clear();
  int r = 0;
  for (int s = 0; s < kLoraSlots; ++s)
    if (const GgufTensor* a = f.find_tensor(gguf_lora_name(0, s, true))) {
      c.targets.push_back(kSlotNames[s]);
      if (a->dims.size() == 2) r = static_cast<int>(a->dims[1]);
    }
  if (c.targets.empty() || r <= 0) throw Error(path + " has no LoRA tensors for layer 0", fix);
  c.r = r;
  c.alpha = f.get_f32("adapter.lora.alpha", 0.0f);
  if (c.alpha == 0.0) c.alpha = r;  // llama.cpp: no alpha means a scale of 1
  std::shared_ptr<LoraSet> set(new LoraSet());
  set->impl_ = empty_impl(model, c);
  Impl& m = *set->impl_;
  for (int64_t i = 0; i < m.n_layers; ++i)
    for (int s = 0; s < kLoraSlots; ++s) {
      if (!m.active[s]) continue;
      const Weight& w = slot_weight(model.weights().layers[static_cast<size_t>(i)], static_cast<LoraSlot>(s));
      for (bool is_a : {true, false}) {
        const std::string name = gguf_lora_name(i, s, is_a);
        const GgufTensor* t = f.find_tensor(name);
        if (!t) throw Error(path + ": tensor " + name + " is missing", fix);
        // GGUF dims are reversed: lora_a is [in, r], lora_b [r, out].
        const std::vector<int64_t> want = is_a ? std::vector<int64_t>{r, w.in} : std::vector<int64_t>{w.out, r};
        if (t->dims.size() != 2 || static_cast<int64_t>(t->dims[1]) != want[0] ||
            static_cast<int64_t>(t->dims[0]) != want[1])
          throw Error(path + ": tensor " + name + " has the wrong shape for this base", fix);
        const std::vector<float> v = dequantize_tensor(*t, 1);
        (is_a ? m.A : m.B)[static_cast<size_t>(i)][static_cast<size_t>(s)] =
            at::from_blob(const_cast<float*>(v.data()), want, at::kFloat).to(model.device(), model.dtype()).clone();
      }
    }
  return set;
}

std::shared_ptr<LoraSet> LoraSet::load(const std::string& path, const Model& model) {
  if (std::filesystem::is_directory(path)) return load_peft(path, model);
  if (!std::filesystem::exists(path))
    throw Error("adapter " + path + " does not exist", "pass a peft adapter directory or a LoRA .gguf file");
  return load_gguf(path, model);
}

}  // namespace mtk::llm
