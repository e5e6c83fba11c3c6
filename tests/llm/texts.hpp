#pragma once
// Texts shared by the tokenizer parity tests: ManimBench descriptions and code, and edge cases
// (whitespace runs, digits, scripts of many languages, emoji, chat markup, control bytes).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/core/jsonl.hpp"
#include "peer.hpp"

namespace mtk::test {

// The description and the code of the first `items` ManimBench items (2 * items texts).
inline std::vector<std::string> manimbench_texts(size_t items) {
  std::vector<std::string> out;
  mtk::read_jsonl(manimbench_path().string(), "dataset", [&](const nlohmann::json& j, size_t) {
    if (out.size() >= 2 * items) return;
    out.push_back(mtk::json_string_field(j, "description"));
    out.push_back(mtk::json_string_field(j, "code"));
  });
  return out;
}

inline std::vector<std::string> edge_texts() {
  return {
      "",
      " ",
      "a",
      "Hello world",
      "Hello  world",
      "  leading and trailing  ",
      "\t\ttabs\tand\t spaces \t",
      "\n",
      "\n\n\n",
      "line1\nline2\r\nline3\rline4",
      "    indented\n        more\n\n\n    back",
      std::string(37, ' ') + "x" + std::string(64, ' '),
      std::string(200, '\n'),
      " \t \n \r\n\t ",
      "12345",
      "3.14159",
      "1,000,000 and 1e-9 and 0x1F and -42",
      "version 2.0.1 (build 20240517)",
      "١٢٣ ٤٥٦ Arabic-Indic digits, ½ ¾ ² ³ Ⅻ",
      "café résumé naïve façade Ångström",
      "e\u0301 combining acute, a\u0308 o\u0302\u0323",
      "Straße, ǅ, ﬁ ligature, İstanbul",
      "日本語のテキストです。漢字とひらがな。",
      "中文文本，包括标点符号！",
      "한국어 텍스트",
      "Привет, мир! Ελληνικά.",
      "שלום עולם",
      "مرحبا بالعالم",
      "mixed RTL: abc שלום 123 مرحبا",
      "emoji: 🎉🚀 👍🏽 👨‍👩‍👧‍👦 🇫🇷",
      "zero\u200bwidth\u200djoiner\ufeffbom",
      "nbsp\u00a0here and\u2003em space and\u3000ideographic",
      "it's they're we've I'm you'll he'd IT'S",
      "don't 'quoted' \"double\" `back`",
      "<|im_start|>user\nhi<|im_end|>",
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      "Face<|im_end|>\n<|im_start|>user\nDraw a circle.<|im_end|>\n<|im_start|>assistant\n",
      "text<|endoftext|>more<|im_end|><|im_start|>",
      "<|im_start|><|im_start|>  <|im_end|>",
      "<|im_sta partial <|im_end| and <|imstart|>",
      "<file_sep><filename>scene.py<gh_stars>10",
      "def f(x):\n    return x ** 2  # square\n",
      "self.play(Create(circle), run_time=2)\nself.wait()",
      "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
      "$$\\frac{a}{b} + \\sqrt{x^2}$$",
      "~!@#$%^&*()_+-=[]{}|;:',.<>/?",
      "....,,,,;;;;!!!!????",
      std::string("a\0b\x01"
                  "c\x7f",
                  6),
      "\u00ad soft hyphen \u0085 next line \u2028 line sep",
      "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞß",
      "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝟙𝟚𝟛",
      "x\u180ey \u180e z",  // Mongolian vowel separator (not whitespace since Unicode 6.3)
      "a\u0085 b\u2028c \v\f vt ff",
      "a\x04"
      "b\x13"
      "c \x16",  // bytes without a token in this vocabulary: dropped by both
  };
}

}  // namespace mtk::test
