// Regex pre-tokenizers for byte-level BPE (see tokenizer_pretokenize.hpp for the rules).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstring>
#include <string>

#include "mtk/core/error.hpp"
#include "mtk/core/utf8.hpp"
#include "mtk/llm/tokenizer_pretokenize.hpp"

namespace mtk::llm {

namespace {

// The regex of HF's ByteLevel pre-tokenizer (and of OpenAI's GPT-2 encoder).
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Digits(individual_digits = true): every numeric character on its own.
constexpr const char* kDigits = R"(\p{N})";
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

bool one_of(std::string_view s, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

// JIT stack: one per thread, grown on demand up to 8 MiB (long whitespace runs backtrack).
pcre2_jit_stack* thread_jit_stack(void*) {
  struct Holder {
    pcre2_jit_stack* stack = nullptr;
    ~Holder() {
      if (stack) pcre2_jit_stack_free(stack);
    }
  };
  thread_local Holder h;
  if (!h.stack) h.stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
  return h.stack;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

// Length of the UTF-8 sequence starting with byte b (1 for a stray continuation/invalid byte).
size_t utf8_len(unsigned char b) { return utf8::sequence_length(b); }

}  // namespace

PreTokenizerRule pre_tokenizer_rule(std::string_view pre, bool* known) {
  PreTokenizerRule r;
  bool ok = true;
  if (one_of(pre, {"default", "gpt2", "gpt-2", ""})) {
    r.name = "gpt2";
    r.regexes = {kGpt2};
  } else if (one_of(pre, {"smollm", "starcoder", "refact", "codeshell", "command-r"})) {
    r.name = "smollm";
    r.regexes = {kDigits, kGpt2};
  } else if (one_of(pre, {"llama3", "llama-bpe", "llama-v3"})) {
    r.name = "llama3";
    r.regexes = {kLlama3};
    r.ignore_merges = true;
  } else if (one_of(pre, {"qwen2", "qwen2.5"})) {
    r.name = "qwen2";
    r.regexes = {kQwen2};
  } else {
    ok = false;
    r.name = "gpt2";
    r.regexes = {kGpt2};
  }
  if (known) *known = ok;
  return r;
}

struct PreTokenizer::Impl {
  std::vector<pcre2_code*> codes;
  pcre2_match_context* mctx = nullptr;
  bool all_jit = true;

  ~Impl() {
    for (pcre2_code* c : codes) pcre2_code_free(c);
    if (mctx) pcre2_match_context_free(mctx);
  }

  // Splits each of `in` by regex `k` into `out` (isolated: matches and the gaps between them).
  void apply(size_t k, const std::vector<std::string_view>& in, std::vector<std::string_view>& out,
             pcre2_match_data* md) const {
    pcre2_code* code = codes[k];
    for (std::string_view seg : in) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(seg.data());
      size_t pos = 0, gap = 0;
      while (pos < seg.size()) {
        const int rc = pcre2_match(code, subject, seg.size(), pos, 0, md, mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0)
          throw Error("pre-tokenizer regex failed on a " + std::to_string(seg.size()) +
                      "-byte piece: " + pcre2_message(rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t b = ov[0], e = ov[1];
        if (e <= b) {  // an empty match: step one character on
          pos = b < seg.size() ? b + utf8_len(static_cast<unsigned char>(seg[b])) : seg.size();
          continue;
        }
        if (b > gap) out.push_back(seg.substr(gap, b - gap));
        out.push_back(seg.substr(b, e - b));
        pos = gap = e;
      }
      if (gap < seg.size()) out.push_back(seg.substr(gap));
    }
  }
};

PreTokenizer::PreTokenizer(const std::vector<std::string>& regexes) : impl_(std::make_unique<Impl>()) {
  uint32_t options = PCRE2_UTF | PCRE2_UCP;
#ifdef PCRE2_MATCH_INVALID_UTF
  options |= PCRE2_MATCH_INVALID_UTF;  // invalid UTF-8 never matches and ends up in a gap piece
#endif
  for (const std::string& rx : regexes) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rx.data()), rx.size(), options, &err, &off, nullptr);
    if (!c)
      throw Error("pre-tokenizer regex /" + rx + "/ does not compile at offset " + std::to_string(off) + ": " +
                      pcre2_message(err),
                  "check the regex (PCRE2 syntax with Unicode properties)");
    impl_->codes.push_back(c);
    if (pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) != 0) impl_->all_jit = false;
  }
  impl_->mctx = pcre2_match_context_create(nullptr);
  if (!impl_->mctx) throw Error("out of memory creating a PCRE2 match context");
  pcre2_jit_stack_assign(impl_->mctx, thread_jit_stack, nullptr);
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

bool PreTokenizer::jit() const { return impl_->all_jit; }

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  pcre2_match_data* md = pcre2_match_data_create(4, nullptr);
  if (!md) throw Error("out of memory creating PCRE2 match data");
  struct Free {
    pcre2_match_data* p;
    ~Free() { pcre2_match_data_free(p); }
  } guard{md};
  const size_t n = impl_->codes.size();
  if (n == 0) {
    out.push_back(text);
    return;
  }
  std::vector<std::string_view> cur{text}, next;
  for (size_t k = 0; k + 1 < n; ++k) {
    next.clear();
    impl_->apply(k, cur, next, md);
    cur.swap(next);
  }
  impl_->apply(n - 1, cur, out, md);
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> out;
  split(text, out);
  return out;
}

}  // namespace mtk::llm
