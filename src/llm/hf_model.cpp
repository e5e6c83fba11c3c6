// Hugging Face model directories: config.json, generation/tokenizer configs and safetensors weights.
#include "mtk/llm/hf_model.hpp"

#include <filesystem>
#include <system_error>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"

namespace mtk::llm {

namespace {

namespace stdfs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kNotHfFix =
    "point at a directory saved by transformers' save_pretrained (or downloaded from the Hub) holding config.json "
    "and model.safetensors (or model.safetensors.index.json with its shards), or use a .gguf file";

bool is_file(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::is_regular_file(p, ec);
}

bool has_weights(const stdfs::path& dir) {
  return is_file(dir / SafetensorsModel::kSingleFile) || is_file(dir / SafetensorsModel::kIndexFile);
}

json read_json(const stdfs::path& p) {
  const std::string text = mtk::fs::read_file(p);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error("'" + p.string() + "' is not valid JSON: " + e.what(),
                "re-download the model directory (the file is damaged or was edited by hand)");
  }
}

json read_optional_json(const stdfs::path& p) { return is_file(p) ? read_json(p) : json(); }

}  // namespace

std::string HfModelDir::model_type() const {
  if (config.is_object() && config.contains("model_type") && config["model_type"].is_string())
    return config["model_type"].get<std::string>();
  return "";
}

bool is_hf_model_dir(const std::string& path) {
  std::error_code ec;
  const stdfs::path dir(path);
  return stdfs::is_directory(dir, ec) && is_file(dir / "config.json") && has_weights(dir);
}

HfModelDir load_hf_dir(const std::string& path, bool with_tokenizer) {
  std::error_code ec;
  const stdfs::path dir(path);
  if (!stdfs::exists(dir, ec)) throw Error("model directory '" + path + "' does not exist", "check the path");
  if (!stdfs::is_directory(dir, ec))
    throw Error("'" + path + "' is not a directory (a Hugging Face model is a directory)", kNotHfFix);
  const bool config = is_file(dir / "config.json"), weights = has_weights(dir);
  if (!config || !weights) {
    std::string missing = !config && !weights ? "config.json and the weights"
                          : !config           ? "config.json"
                                              : "the weights (model.safetensors or model.safetensors.index.json)";
    if (!weights && (is_file(dir / "pytorch_model.bin") || is_file(dir / "pytorch_model.bin.index.json")))
      missing += "; it has PyTorch .bin weights, which are not read";
    throw Error("'" + path +
                    "' is not a Hugging Face model directory (expected config.json and model.safetensors; "
                    "missing " +
                    missing + ")",
                kNotHfFix);
  }

  HfModelDir d;
  d.path = path;
  d.config = read_json(dir / "config.json");
  if (!d.config.is_object())
    throw Error("'" + (dir / "config.json").string() + "' is not a JSON object", "re-download the model directory");
  d.generation_config = read_optional_json(dir / "generation_config.json");
  d.tokenizer_config = read_optional_json(dir / "tokenizer_config.json");
  if (is_file(dir / "tokenizer.json")) {
    d.tokenizer_json_path = (dir / "tokenizer.json").string();
    if (with_tokenizer) d.tokenizer = read_json(dir / "tokenizer.json");
  }
  d.tensors = SafetensorsModel::open(path);
  if (d.tensors.empty())
    throw Error("the weights in '" + path + "' hold no tensors", "re-download the model directory");
  return d;
}

}  // namespace mtk::llm
