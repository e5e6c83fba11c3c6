#pragma once
// Chat templates: a conversation (system / user / assistant messages) to the prompt text a model
// was instruction-tuned on. Four families are written out in C++ (no Jinja interpreter); each one
// reproduces, byte for byte, the Jinja template its models publish (tokenizer_config.json on the
// Hugging Face Hub, copied into GGUF files as tokenizer.chat_template), rendered the way
// transformers' apply_chat_template renders it. tests/llm/chat_template_peer.py checks that parity.
//
//   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n per message; generation prompt
//            <|im_start|>assistant\n. No BOS. Contents are written as given (no trimming).
//            SmolLM2 (and Qwen2.5) templates insert a default system turn when the first message is
//            not a system message: ChatTemplateSpec::default_system, which chat_template_spec()
//            extracts from a GGUF's template (SmolLM2: "You are a helpful AI assistant named SmolLM,
//            trained by Hugging Face"). An empty conversation gets no default system turn.
//   llama3   Meta-Llama-3-*-Instruct: BOS before the first message, then per message
//            <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> with CONTENT trimmed
//            (Python str.strip: Unicode whitespace at both ends); generation prompt
//            <|start_header_id|>assistant<|end_header_id|>\n\n. System messages are native.
//   gemma    Gemma 3 (google/gemma-3-*-it): BOS, then <start_of_turn>ROLE\nCONTENT<end_of_turn>\n
//            with the assistant role written "model" and CONTENT trimmed; generation prompt
//            <start_of_turn>model\n. No system role: a leading system message is merged into the
//            first user turn as SYSTEM + "\n\n" + trim(USER) (the system text itself is not
//            trimmed). After it, roles must alternate user/assistant starting with user.
//   mistral  Mistral "v3" (Mistral-7B-Instruct-v0.3, the spaced [INST] variant; not v3-tekken or
//            v7): BOS, then "[INST] USER[/INST]" per user turn and " " + trim(ASSISTANT) + EOS per
//            assistant turn. The [/INST] is the generation prompt: add_generation_prompt changes
//            nothing. No system role: as Mistral's template does, a leading system message is
//            merged as SYSTEM + "\n\n" + USER into the LAST message when that message is a user
//            turn (for the usual single-turn prompt that is the first user turn too); when the
//            conversation ends with an assistant turn the system text is not written at all (the
//            published template's behaviour, kept for parity). Roles must alternate as for gemma.
//
// Errors (mtk::Error): a role other than system/user/assistant; for gemma and mistral an empty
// conversation, a system message after the first, or roles that do not alternate (the published
// templates raise on these too).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtk::llm {

class GgufFile;

enum class ChatFormat { chatml, llama3, gemma, mistral };

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// "chatml", "llama3", "gemma", "mistral".
const char* chat_format_name(ChatFormat f);

// The format of a Jinja chat template, from its distinctive markers, checked in this order:
// "<|im_start|>" chatml, "<|start_header_id|>" llama3, "<start_of_turn>" gemma, "[INST]" mistral.
// An empty or unrecognised template gives the default, chatml, and logs a warning.
ChatFormat detect_chat_format(std::string_view template_text);

// A format named in a config or on the command line (the names above, case-insensitive; also
// "llama-3", "llama3.1", "llama-3.1", "gemma3", "gemma-3", "mistral-v3"). Throws mtk::Error listing
// the names.
ChatFormat chat_format_from_string(std::string_view name);

// Everything a format needs besides the messages.
struct ChatTemplateSpec {
  ChatFormat format = ChatFormat::chatml;
  std::string bos_text;  // the model's BOS token text, as the template's bos_token (llama3, gemma, mistral)
  std::string eos_text = "</s>";  // eos_token (only mistral writes it, after assistant turns)
  // chatml only: the system turn inserted when the first message is not a system message.
  std::optional<std::string> default_system;
};

std::string apply_chat_template(const ChatTemplateSpec& spec, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);
// The same with no default system turn and eos_text "</s>".
std::string apply_chat_template(ChatFormat format, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt, const std::string& bos_text);

// The constant system text of a ChatML template's "<|im_start|>system\n...<|im_end|>\n" string
// literal (the newline after "system" written as \n or raw; Jinja escapes \n \t \r \\ \' \"
// undone), if the template has one; nullopt otherwise (also for other escapes, not guessed).
std::optional<std::string> chatml_default_system(std::string_view template_text);

// The spec for a GGUF model: the format from tokenizer.chat_template (or `override`); bos_text /
// eos_text the vocabulary entries of tokenizer.ggml.bos_token_id / eos_token_id ("" when absent;
// read directly, so any tokenizer kind works); default_system from the template when the format
// is chatml and the template is ChatML.
ChatTemplateSpec chat_template_spec(const GgufFile& file, std::optional<ChatFormat> override = std::nullopt);

// apply_chat_template(chat_template_spec(file, override), messages, add_generation_prompt).
std::string render_chat(const GgufFile& file, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        std::optional<ChatFormat> override = std::nullopt);

}  // namespace mtk::llm
