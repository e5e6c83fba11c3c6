#pragma once
// Small text helpers shared by the modules (one home each).
#include <cstdint>
#include <string>
#include <string_view>

namespace mtk {

// ASCII lower case (bytes >= 0x80 unchanged).
std::string lower(std::string_view s);
// Without leading and trailing ASCII whitespace (isspace in the C locale). Jinja's `trim`, which is
// Python's str.strip over Unicode whitespace, lives with the chat templates.
std::string_view trim(std::string_view s);
std::string_view rtrim(std::string_view s);
// "512 B", "3.5 KiB", "64 MiB", "1.25 GiB": three significant digits.
std::string human_bytes(uint64_t bytes);

}  // namespace mtk
