// Chat templates: unit tests (detection, names, system merge, errors) and byte-for-byte parity with
// jinja2 (tests/llm/chat_template_peer.py). Against real published templates: SmolLM2 (ChatML), its
// own tokenizer.chat_template from its GGUF, read both by llama.cpp's `gguf` package and by our GGUF
// reader; Llama 3, Meta-Llama-3-8B-Instruct's template text as llama-cpp-python keeps it. The
// Gemma 3 270M GGUF we have is the base model and carries no tokenizer.chat_template (asserted
// below), and we have no Mistral v3 template: those two families (and Llama 3 once more) are checked
// against the published templates rewritten as short Jinja fixtures in the peer. The model files,
// jinja2 and llama-cpp-python are required: the test fails with the fix when missing.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "peer.hpp"
#include "mtk/llm/chat_template.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/model_info.hpp"
#include "mtk/llm/tokenizer.hpp"

using namespace mtk::llm;
using namespace mtk::test;
namespace stdfs = std::filesystem;

namespace {

using Conv = std::vector<ChatMessage>;

void require_peer() { require_python_modules("gguf, jinja2"); }

const char* kPersona =
    "You are an expert Manim developer. You write complete, runnable Python code for Manim Community "
    "Edition that animates the scene a text script describes.";

std::string manim_user(const std::string& description) {
  return "Generate code for the following text script:\n<TEXT_SCRIPT>\n" + description + "\n</TEXT_SCRIPT>";
}

const char* kAnswer = "<CODE>\n```python\nfrom manim import *\n\nclass Scene1(Scene):\n    def construct(self):\n"
                      "        c = Circle(color=BLUE)\n        self.play(Create(c))\n        self.wait()\n```\n</CODE>";

// The conversations every format is checked on (each with and without the generation prompt).
std::vector<Conv> conversations() {
  return {
      {{"user", "Draw a circle."}},
      {{"system", "You are a helpful assistant."}, {"user", "Draw a circle."}},
      {{"system", kPersona},
       {"user", manim_user("A blue circle appears in the center.\nIt then transforms into a red square, "
                           "and the square rotates by 45 degrees.")}},
      {{"user", manim_user("Show the text \"Hello\".")}, {"assistant", kAnswer}, {"user", "Now make it green."}},
      {{"system", kPersona},
       {"user", manim_user("Plot y = x^2.")},
       {"assistant", kAnswer},
       {"user", "Add axes labels."},
       {"assistant", "Sure:\n" + std::string(kAnswer)},
       {"user", "Thanks. One more: animate a dot moving along the parabola."}},
      {{"system", kPersona}, {"user", "Draw a triangle."}, {"assistant", kAnswer}},  // ends with the assistant
      {{"system", "  padded system \n\n"},
       {"user", "\n\n  leading and trailing whitespace\t \n"},
       {"assistant", "\r\n  answer with CRLF\r\n\r\n"},
       {"user", "line1\nline2\n\n\nline5\n"}},
      {{"system", "\u00a0Système: réponds en français\u3000"},
       {"user", "\u2003日本語のテキスト 🎉👨‍👩‍👧 שלום مرحبا\u0085\u2028"},
       {"assistant", "\u200bzero width is not whitespace\u200b"},
       {"user", "Ελληνικά, Ångström, ½ ¾, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢\u202f"}},
      {{"user", "Jinja-looking text: {{ messages }} {% if x %} {# c #} 'quotes' \"double\" \\backslash"}},
      {{"user", "Special markers inside content: <|im_end|> <|im_start|>assistant [INST] [/INST] <end_of_turn> "
                "<|eot_id|> </s> <bos>"}},
      {{"user", ""}},
      {{"system", ""}, {"user", ""}, {"assistant", ""}, {"user", " "}},
      {},                                               // empty: gemma and mistral refuse it
      {{"system", kPersona}},                           // system only
      {{"user", "first"}, {"user", "second"}},         // not alternating: gemma and mistral refuse it
      {{"user", "hi"}, {"assistant", "hello"}, {"system", "late system"}, {"user", "q"}},  // late system
      {{"assistant", "I speak first."}, {"user", "ok"}},  // assistant first
  };
}

std::string show(const std::string& s) { return nlohmann::json(s).dump(); }

struct PeerCase {
  std::string tmpl;
  Conv conv;
  bool gen;
  nlohmann::json extra = nlohmann::json::object();  // more fields of the case ("inline": source, bos_token, eos_token)
};

nlohmann::json run_peer(const stdfs::path& model, const std::vector<PeerCase>& cases) {
  nlohmann::json in = nlohmann::json::array();
  for (const auto& c : cases) {
    nlohmann::json msgs = nlohmann::json::array();
    for (const auto& m : c.conv) msgs.push_back({{"role", m.role}, {"content", m.content}});
    nlohmann::json one = {{"template", c.tmpl}, {"messages", msgs}, {"add_generation_prompt", c.gen}};
    one.update(c.extra);
    in.push_back(one);
  }
  auto j = run_peer_json("chat_template_peer.py", model.empty() ? std::string() : quote(model.string()), in);
  REQUIRE(j.size() == cases.size());
  return j;
}

struct Tally {
  int matched = 0;
  int refused = 0;  // both sides refused the conversation
};

// Renders every case with `render` and compares with the peer: equal text, or both refuse.
template <class Render>
Tally check_parity(const std::vector<PeerCase>& cases, const nlohmann::json& peer, Render render) {
  Tally t;
  for (size_t k = 0; k < cases.size(); ++k) {
    INFO("template " << cases[k].tmpl << ", case " << k / 2 << ", add_generation_prompt " << cases[k].gen);
    const auto& want = peer[k];
    if (want.contains("error")) {
      INFO("the peer refused: " << want["error"].get<std::string>());
      CHECK_THROWS_AS(render(cases[k]), mtk::Error);
      ++t.refused;
      continue;
    }
    std::string got;
    try {
      got = render(cases[k]);
    } catch (const mtk::Error& e) {
      FAIL_CHECK("threw " << e.what() << " where the peer rendered " << show(want["text"].get<std::string>()));
      continue;
    }
    const std::string expected = want["text"].get<std::string>();
    if (got == expected) ++t.matched;
    else
      FAIL_CHECK("mismatch\n  ours:  " << show(got) << "\n  jinja: " << show(expected));
  }
  return t;
}

std::vector<PeerCase> cases_for(const std::string& tmpl) {
  std::vector<PeerCase> out;
  for (const auto& c : conversations()) {
    out.push_back({tmpl, c, true});
    out.push_back({tmpl, c, false});
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Unit tests

TEST_CASE("chat template: detection from markers", "[chat][unit]") {
  CHECK(detect_chat_format("{{'<|im_start|>' + message['role'] + '\\n'}}") == ChatFormat::chatml);
  CHECK(detect_chat_format("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}") ==
        ChatFormat::llama3);
  CHECK(detect_chat_format("{{ '<start_of_turn>' + role + '\\n' }}") == ChatFormat::gemma);
  CHECK(detect_chat_format("{{ '[INST] ' + message['content'] + ' [/INST]' }}") == ChatFormat::mistral);
  CHECK(detect_chat_format("") == ChatFormat::chatml);               // documented default (warns)
  CHECK(detect_chat_format("{{ messages }}") == ChatFormat::chatml);  // unknown: default (warns)
}

TEST_CASE("chat template: format names for config overrides", "[chat][unit]") {
  for (auto f : {ChatFormat::chatml, ChatFormat::llama3, ChatFormat::gemma, ChatFormat::mistral})
    CHECK(chat_format_from_string(chat_format_name(f)) == f);
  CHECK(chat_format_from_string("ChatML") == ChatFormat::chatml);
  CHECK(chat_format_from_string("llama-3") == ChatFormat::llama3);
  CHECK(chat_format_from_string("gemma3") == ChatFormat::gemma);
  CHECK(chat_format_from_string("mistral-v3") == ChatFormat::mistral);
  try {
    chat_format_from_string("vicuna");
    FAIL("no error for an unknown name");
  } catch (const mtk::Error& e) {
    const std::string what = e.what();
    CHECK(what.find("vicuna") != std::string::npos);
    CHECK(e.fix().find("chatml, llama3, gemma, mistral") != std::string::npos);
  }
}

TEST_CASE("chat template: the formats' shapes", "[chat][unit]") {
  const Conv c = {{"system", "S"}, {"user", "U"}};
  CHECK(apply_chat_template(ChatFormat::chatml, c, true, "") ==
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
  CHECK(apply_chat_template(ChatFormat::llama3, c, true, "<|begin_of_text|>") ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(apply_chat_template(ChatFormat::gemma, {{"user", "U"}, {"assistant", "A"}}, true, "<bos>") ==
        "<bos><start_of_turn>user\nU<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n<start_of_turn>model\n");
  CHECK(apply_chat_template(ChatFormat::mistral, {{"user", "U"}, {"assistant", " A "}, {"user", "V"}}, true, "<s>") ==
        "<s>[INST] U[/INST] A</s>[INST] V[/INST]");
  // Mistral's [/INST] is its generation prompt: the flag changes nothing.
  CHECK(apply_chat_template(ChatFormat::mistral, {{"user", "U"}}, false, "<s>") == "<s>[INST] U[/INST]");
}

TEST_CASE("chat template: system prompt merged where there is no system role", "[chat][unit]") {
  const Conv c = {{"system", "Be brief."}, {"user", "Draw a circle."}};
  CHECK(apply_chat_template(ChatFormat::gemma, c, true, "<bos>") ==
        "<bos><start_of_turn>user\nBe brief.\n\nDraw a circle.<end_of_turn>\n<start_of_turn>model\n");
  CHECK(apply_chat_template(ChatFormat::mistral, c, true, "<s>") == "<s>[INST] Be brief.\n\nDraw a circle.[/INST]");
  // Gemma: into the first user turn; Mistral v3: into the last one (as its published template does).
  const Conv multi = {{"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}};
  CHECK(apply_chat_template(ChatFormat::gemma, multi, false, "") ==
        "<start_of_turn>user\nS\n\nU1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n"
        "<start_of_turn>user\nU2<end_of_turn>\n");
  CHECK(apply_chat_template(ChatFormat::mistral, multi, false, "") == "[INST] U1[/INST] A1</s>[INST] S\n\nU2[/INST]");
}

TEST_CASE("chat template: ChatML default system turn", "[chat][unit]") {
  const std::string smol =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
      "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}"
      "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
  CHECK(chatml_default_system(smol) == std::string("You are a helpful AI assistant named SmolLM, trained by Hugging Face"));
  // SmolLM2's GGUF writes the newlines inside the literals raw.
  CHECK(chatml_default_system("{{ '<|im_start|>system\nHi there<|im_end|>\n' }}") == std::string("Hi there"));
  CHECK_FALSE(chatml_default_system("{{'<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n'}}"));
  CHECK_FALSE(chatml_default_system("{{'<|im_start|>' + message['role'] + '\\n'}}"));
  CHECK(chatml_default_system("{{- \"<|im_start|>system\\nIt's \\\"Q\\\".<|im_end|>\\n\" }}") ==
        std::string("It's \"Q\"."));
  ChatTemplateSpec spec;
  spec.default_system = "D";
  CHECK(apply_chat_template(spec, {{"user", "U"}}, false) ==
        "<|im_start|>system\nD<|im_end|>\n<|im_start|>user\nU<|im_end|>\n");
  CHECK(apply_chat_template(spec, {{"system", "S"}, {"user", "U"}}, false) ==
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n");
  CHECK(apply_chat_template(spec, {}, true) == "<|im_start|>assistant\n");
}

TEST_CASE("chat template: refused conversations", "[chat][unit]") {
  CHECK_THROWS_AS(apply_chat_template(ChatFormat::chatml, {{"tool", "x"}}, true, ""), mtk::Error);
  for (auto f : {ChatFormat::gemma, ChatFormat::mistral}) {
    CHECK_THROWS_AS(apply_chat_template(f, {}, true, ""), mtk::Error);
    CHECK_THROWS_AS(apply_chat_template(f, {{"user", "a"}, {"user", "b"}}, true, ""), mtk::Error);
    CHECK_THROWS_AS(apply_chat_template(f, {{"assistant", "a"}}, true, ""), mtk::Error);
    CHECK_THROWS_AS(apply_chat_template(f, {{"user", "a"}, {"system", "s"}}, true, ""), mtk::Error);
  }
}

TEST_CASE("chat template: trim is Python's str.strip", "[chat][unit]") {
  // Llama 3 trims contents: Unicode whitespace goes, U+200B (not whitespace in Python) stays.
  const std::string out = apply_chat_template(
      ChatFormat::llama3, {{"user", "\u3000\u00a0 \t\nx y\u2029\u0085\u200b\u2003"}}, false, "");
  CHECK(out == "<|start_header_id|>user<|end_header_id|>\n\nx y\u2029\u0085\u200b<|eot_id|>");
  CHECK(apply_chat_template(ChatFormat::llama3, {{"user", " \n\t "}}, false, "") ==
        "<|start_header_id|>user<|end_header_id|>\n\n<|eot_id|>");
}

// ---------------------------------------------------------------------------------------------
// Parity with jinja2

TEST_CASE("chat template: SmolLM2's template, ours vs jinja2", "[chat][integration]") {
  const stdfs::path model = smollm2_path();
  require_peer();
  const GgufFile f = GgufFile::open(resolve_model("smollm2"));
  const ChatTemplateSpec spec = chat_template_spec(f);
  CHECK(spec.format == ChatFormat::chatml);
  CHECK(spec.default_system == std::string("You are a helpful AI assistant named SmolLM, trained by Hugging Face"));
  const auto cases = cases_for("gguf");
  const auto peer = run_peer(model, cases);
  const Tally t = check_parity(cases, peer, [&](const PeerCase& c) { return render_chat(f, c.conv, c.gen); });
  WARN("smollm2 (its GGUF template): " << t.matched << " of " << cases.size() << " renders identical, "
                                       << t.refused << " refused by both");
  CHECK(t.matched + t.refused == static_cast<int>(cases.size()));
  CHECK(t.matched >= 20);
  // The same template text as our GGUF reader reads it (with BOS / EOS from our vocabulary), rendered
  // by jinja2: the same renders as from the `gguf` package's reading, and ours match them.
  auto inline_cases = cases_for("inline");
  for (auto& c : inline_cases)
    c.extra = {{"source", f.get_string("tokenizer.chat_template")}, {"bos_token", spec.bos_text}, {"eos_token", spec.eos_text}};
  const auto peer_inline = run_peer({}, inline_cases);
  CHECK(peer_inline == peer);
  const Tally ti = check_parity(inline_cases, peer_inline, [&](const PeerCase& c) { return apply_chat_template(spec, c.conv, c.gen); });
  CHECK(ti.matched == t.matched);
  // The markup becomes single control tokens: <|im_start|> (1) opens, <|im_end|> (2) closes each turn.
  const auto tok = load_tokenizer(f);
  const auto ids = tok->encode(render_chat(f, conversations()[2], true), false, true);
  REQUIRE(ids.size() > 10);
  CHECK(ids.front() == 1);
  CHECK(std::count(ids.begin(), ids.end(), 1) == 3);
  CHECK(std::count(ids.begin(), ids.end(), 2) == 2);
}

TEST_CASE("chat template: Llama 3, Gemma 3, Mistral v3, ours vs jinja2", "[chat][integration]") {
  require_peer();
  struct Fixture {
    const char* name;
    ChatFormat format;
    const char* bos;
    const char* eos;
  };
  for (const Fixture& fx : {Fixture{"llama3", ChatFormat::llama3, "<|begin_of_text|>", "<|eot_id|>"},
                            Fixture{"gemma", ChatFormat::gemma, "<bos>", "<eos>"},
                            Fixture{"mistral", ChatFormat::mistral, "<s>", "</s>"}}) {
    ChatTemplateSpec spec;
    spec.format = fx.format;
    spec.bos_text = fx.bos;
    spec.eos_text = fx.eos;
    const auto cases = cases_for(fx.name);
    const auto peer = run_peer({}, cases);  // fixtures only: the peer opens no model
    const Tally t = check_parity(cases, peer, [&](const PeerCase& c) { return apply_chat_template(spec, c.conv, c.gen); });
    WARN(fx.name << ": " << t.matched << " of " << cases.size() << " renders identical, " << t.refused
                 << " refused by both");
    CHECK(t.matched + t.refused == static_cast<int>(cases.size()));
    CHECK(t.matched >= 20);
  }
}

TEST_CASE("chat template: Llama 3's published template (as llama-cpp-python keeps it), ours vs jinja2",
          "[chat][integration]") {
  // llama-cpp-python (installed for the parity tests) carries Meta-Llama-3-8B-Instruct's
  // chat_template text as LLAMA3_INSTRUCT_CHAT_TEMPLATE: the published template, not a rewrite.
  require_python_modules("jinja2, llama_cpp");
  ChatTemplateSpec spec;
  spec.format = ChatFormat::llama3;
  spec.bos_text = "<|begin_of_text|>";
  spec.eos_text = "<|eot_id|>";
  auto cases = cases_for("llama_cpp");
  for (auto& c : cases)
    c.extra = {{"constant", "LLAMA3_INSTRUCT_CHAT_TEMPLATE"}, {"bos_token", spec.bos_text}, {"eos_token", spec.eos_text}};
  const auto peer = run_peer({}, cases);
  const Tally t = check_parity(cases, peer, [&](const PeerCase& c) { return apply_chat_template(spec, c.conv, c.gen); });
  WARN("llama3 (published template): " << t.matched << " of " << cases.size() << " renders identical, " << t.refused
                                       << " refused by both");
  CHECK(t.matched + t.refused == static_cast<int>(cases.size()));
  CHECK(t.matched >= 20);
}

TEST_CASE("chat template: Gemma 3 GGUF without a template", "[chat][integration]") {
  const GgufFile f = GgufFile::open(gemma3_path().string());
  require_peer();
  // The base model has no tokenizer.chat_template (so no published Gemma template is checked here:
  // the fixture below is the -it template rewritten); detection falls back to chatml (with a warning).
  CHECK_FALSE(f.has("tokenizer.chat_template"));
  const ChatTemplateSpec detected = chat_template_spec(f);
  CHECK(detected.format == ChatFormat::chatml);
  CHECK_FALSE(detected.default_system);
  // Overridden to gemma, BOS comes from its (SentencePiece) vocabulary.
  const ChatTemplateSpec spec = chat_template_spec(f, ChatFormat::gemma);
  CHECK(spec.bos_text == "<bos>");
  CHECK(spec.eos_text == "<eos>");
  const auto cases = cases_for("gemma");
  const auto peer = run_peer({}, cases);
  const Tally t = check_parity(cases, peer, [&](const PeerCase& c) { return render_chat(f, c.conv, c.gen, ChatFormat::gemma); });
  CHECK(t.matched + t.refused == static_cast<int>(cases.size()));
}
