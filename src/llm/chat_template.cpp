#include "mtk/llm/chat_template.hpp"

#include <spdlog/spdlog.h>

#include <cctype>

#include "mtk/core/error.hpp"
#include "mtk/core/strings.hpp"
#include "mtk/llm/gguf.hpp"

namespace mtk::llm {

namespace {

const char* const kFormatNames = "chatml, llama3, gemma, mistral";

// Length of the UTF-8 sequence at s[i] and its code point when it is whitespace as Python's
// str.isspace() defines it (what Jinja's `trim` filter strips); 0 when it is not.
size_t space_at(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return (b >= 0x09 && b <= 0x0d) || (b >= 0x1c && b <= 0x20) ? 1 : 0;
  uint32_t cp = 0;
  size_t len = 0;
  if ((b & 0xe0) == 0xc0) cp = b & 0x1f, len = 2;
  else if ((b & 0xf0) == 0xe0) cp = b & 0x0f, len = 3;
  else return 0;  // 4-byte sequences hold no whitespace; stray bytes are not whitespace
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  const bool ws = cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
                  cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
  // Reject overlong forms (they are not the code point in Python, whose strings hold valid UTF-8).
  const bool shortest = (len == 2 && cp >= 0x80) || (len == 3 && cp >= 0x800);
  return ws && shortest ? len : 0;
}

// Jinja's `trim` filter: Python's str.strip() with no argument.
std::string py_strip(std::string_view s) {
  size_t b = 0;
  while (b < s.size()) {
    const size_t n = space_at(s, b);
    if (!n) break;
    b += n;
  }
  size_t e = s.size();
  while (e > b) {
    // Step back to the start of the last UTF-8 sequence (at most 3 bytes for whitespace).
    size_t start = e - 1;
    while (start > b && e - start < 3 && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
    const size_t n = space_at(s, start);
    if (!n || start + n != e) break;
    e = start;
  }
  return std::string(s.substr(b, e - b));
}

void check_roles(ChatFormat f, const std::vector<ChatMessage>& messages) {
  for (size_t k = 0; k < messages.size(); ++k) {
    const std::string& r = messages[k].role;
    if (r != "system" && r != "user" && r != "assistant")
      throw Error(std::string(chat_format_name(f)) + " chat template: message " + std::to_string(k) +
                      " has the role '" + r + "'",
                  "use one of the roles system, user, assistant");
  }
}

// gemma and mistral: an optional leading system message, then user/assistant alternating from user.
// Returns the index of the first non-system message.
size_t check_alternation(ChatFormat f, const std::vector<ChatMessage>& messages) {
  const std::string name = chat_format_name(f);
  if (messages.empty())
    throw Error(name + " chat template: the conversation is empty", "give at least one user message");
  const size_t first = messages[0].role == "system" ? 1 : 0;
  for (size_t k = first; k < messages.size(); ++k) {
    const bool want_user = (k - first) % 2 == 0;
    if ((messages[k].role == "user") != want_user || messages[k].role == "system")
      throw Error(name + " chat template: message " + std::to_string(k) + " is a " + messages[k].role +
                      " turn where a " + (want_user ? "user" : "assistant") + " turn belongs",
                  "after an optional first system message, roles must alternate user/assistant/user/...; " + name +
                      " has no system role elsewhere");
  }
  return first;
}

std::string render_chatml(const ChatTemplateSpec& spec, const std::vector<ChatMessage>& m, bool gen) {
  std::string out;
  if (!m.empty() && m[0].role != "system" && spec.default_system)
    out += "<|im_start|>system\n" + *spec.default_system + "<|im_end|>\n";
  for (const auto& msg : m) out += "<|im_start|>" + msg.role + "\n" + msg.content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

std::string render_llama3(const ChatTemplateSpec& spec, const std::vector<ChatMessage>& m, bool gen) {
  std::string out;
  for (size_t k = 0; k < m.size(); ++k) {
    if (k == 0) out += spec.bos_text;
    out += "<|start_header_id|>" + m[k].role + "<|end_header_id|>\n\n" + py_strip(m[k].content) + "<|eot_id|>";
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_gemma(const ChatTemplateSpec& spec, const std::vector<ChatMessage>& m, bool gen) {
  const size_t first = check_alternation(ChatFormat::gemma, m);
  std::string out = spec.bos_text;
  for (size_t k = first; k < m.size(); ++k) {
    out += "<start_of_turn>";
    out += m[k].role == "assistant" ? "model" : m[k].role;
    out += "\n";
    if (k == first && first == 1) out += m[0].content + "\n\n";
    out += py_strip(m[k].content) + "<end_of_turn>\n";
  }
  if (gen) out += "<start_of_turn>model\n";
  return out;
}

std::string render_mistral(const ChatTemplateSpec& spec, const std::vector<ChatMessage>& m, bool /*gen*/) {
  const size_t first = check_alternation(ChatFormat::mistral, m);
  std::string out = spec.bos_text;
  for (size_t k = first; k < m.size(); ++k) {
    if (m[k].role == "user") {
      out += "[INST] ";
      if (first == 1 && k + 1 == m.size()) out += m[0].content + "\n\n";
      out += m[k].content + "[/INST]";
    } else {
      out += " " + py_strip(m[k].content) + spec.eos_text;
    }
  }
  return out;
}


// The vocabulary entry of the token whose id is stored under `id_key`, or "".
std::string special_text(const GgufFile& f, const std::string& id_key) {
  const GgufValue* id = f.find(id_key);
  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  if (!id || !id->is_integer() || !tokens || tokens->type != GgufType::Array || tokens->elem_type != GgufType::String)
    return {};
  const int64_t k = id->type == GgufType::U64 || id->type == GgufType::U32 || id->type == GgufType::U16 ||
                            id->type == GgufType::U8
                        ? static_cast<int64_t>(id->u)
                        : id->i;
  if (k < 0 || static_cast<uint64_t>(k) >= tokens->strings.size()) return {};
  return std::string(tokens->strings[static_cast<size_t>(k)]);
}

}  // namespace

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::chatml: return "chatml";
    case ChatFormat::llama3: return "llama3";
    case ChatFormat::gemma: return "gemma";
    case ChatFormat::mistral: return "mistral";
  }
  return "?";
}

ChatFormat detect_chat_format(std::string_view t) {
  if (t.find("<|im_start|>") != std::string_view::npos) return ChatFormat::chatml;
  if (t.find("<|start_header_id|>") != std::string_view::npos) return ChatFormat::llama3;
  if (t.find("<start_of_turn>") != std::string_view::npos) return ChatFormat::gemma;
  if (t.find("[INST]") != std::string_view::npos) return ChatFormat::mistral;
  if (t.empty())
    spdlog::warn("chat template: the model has no tokenizer.chat_template; using chatml (set the chat format "
                 "explicitly if the model expects another: {})",
                 kFormatNames);
  else
    spdlog::warn("chat template: no known format's markers in tokenizer.chat_template; using chatml (set the chat "
                 "format explicitly if the model expects another: {})",
                 kFormatNames);
  return ChatFormat::chatml;
}

ChatFormat chat_format_from_string(std::string_view name) {
  const std::string n = lower(name);
  if (n == "chatml") return ChatFormat::chatml;
  if (n == "llama3" || n == "llama-3" || n == "llama3.1" || n == "llama-3.1") return ChatFormat::llama3;
  if (n == "gemma" || n == "gemma3" || n == "gemma-3") return ChatFormat::gemma;
  if (n == "mistral" || n == "mistral-v3") return ChatFormat::mistral;
  throw Error("unknown chat format '" + std::string(name) + "'",
              std::string("use one of: ") + kFormatNames + " (or leave it unset to detect it from the model)");
}

std::string apply_chat_template(const ChatTemplateSpec& spec, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  check_roles(spec.format, messages);
  switch (spec.format) {
    case ChatFormat::chatml: return render_chatml(spec, messages, add_generation_prompt);
    case ChatFormat::llama3: return render_llama3(spec, messages, add_generation_prompt);
    case ChatFormat::gemma: return render_gemma(spec, messages, add_generation_prompt);
    case ChatFormat::mistral: return render_mistral(spec, messages, add_generation_prompt);
  }
  return {};
}

std::string apply_chat_template(ChatFormat format, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt, const std::string& bos_text) {
  ChatTemplateSpec spec;
  spec.format = format;
  spec.bos_text = bos_text;
  return apply_chat_template(spec, messages, add_generation_prompt);
}

std::optional<std::string> chatml_default_system(std::string_view t) {
  static constexpr std::string_view kHead = "<|im_start|>system";
  static constexpr std::string_view kEnd = "<|im_end|>";
  for (size_t at = t.find(kHead); at != std::string_view::npos; at = t.find(kHead, at + 1)) {
    if (at == 0 || (t[at - 1] != '\'' && t[at - 1] != '"')) continue;
    const char quote = t[at - 1];
    // The newline after the role, written as the escape \n or (as in SmolLM2's GGUF) a raw newline.
    size_t i = at + kHead.size();
    if (t.compare(i, 2, "\\n") == 0) i += 2;
    else if (i < t.size() && t[i] == '\n') i += 1;
    else continue;
    std::string text;
    bool ok = false;
    for (; i < t.size(); ++i) {
      if (t.compare(i, kEnd.size(), kEnd) == 0) {
        ok = true;
        break;
      }
      const char c = t[i];
      if (c == quote) break;  // the literal ends: the system text is not a constant
      if (c != '\\') {
        text += c;
        continue;
      }
      if (++i >= t.size()) break;
      const char e = t[i];
      if (e == 'n') text += '\n';
      else if (e == 't') text += '\t';
      else if (e == 'r') text += '\r';
      else if (e == '\\' || e == '\'' || e == '"') text += e;
      else break;  // an escape not handled here: do not guess
    }
    if (ok && !text.empty()) return text;
  }
  return std::nullopt;
}

ChatTemplateSpec chat_template_spec(const GgufFile& file, std::optional<ChatFormat> override) {
  const std::string tmpl = file.get_string("tokenizer.chat_template", "");
  ChatTemplateSpec spec;
  const bool has_markers = tmpl.find("<|im_start|>") != std::string::npos;
  spec.format = override ? *override : detect_chat_format(tmpl);
  spec.bos_text = special_text(file, "tokenizer.ggml.bos_token_id");
  spec.eos_text = special_text(file, "tokenizer.ggml.eos_token_id");
  if (spec.format == ChatFormat::chatml && has_markers) spec.default_system = chatml_default_system(tmpl);
  return spec;
}

std::string render_chat(const GgufFile& file, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        std::optional<ChatFormat> override) {
  return apply_chat_template(chat_template_spec(file, override), messages, add_generation_prompt);
}

}  // namespace mtk::llm
