#pragma once
// UTF-8, one home: decoding one code point, appending one, the length a lead byte announces.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mtk::utf8 {

struct Char {
  uint32_t cp = 0;   // the code point (valid only when `valid`)
  size_t len = 1;    // bytes it takes; 1 for an invalid byte
  bool valid = false;
};

// The code point at s[i] (i < s.size()). A lead byte with the right number of continuation bytes
// is valid; `strict` also rejects overlong forms, surrogates and values above U+10FFFF (as
// Python's decoder does). Invalid: {0, 1, false}.
Char at(std::string_view s, size_t i, bool strict = false);

// Appends cp (< 0x110000) as UTF-8.
void append(std::string& out, uint32_t cp);

// The sequence length a byte announces: 1 for ASCII and for continuation bytes, else 2, 3 or 4
// (0xF8 and above count as 4).
inline size_t sequence_length(unsigned char lead) { return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

}  // namespace mtk::utf8
