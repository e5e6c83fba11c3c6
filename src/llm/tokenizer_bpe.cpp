// Byte-level BPE (see tokenizer_bpe.hpp).
#include "mtk/llm/tokenizer_bpe.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <queue>
#include <utility>

#include "mtk/core/error.hpp"
#include "mtk/core/utf8.hpp"

namespace mtk::llm {

namespace {

std::array<uint32_t, 256> make_byte_table() {
  std::array<uint32_t, 256> t{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    t[b] = printable ? b : next++;
  }
  return t;
}

void append_utf8(std::string& out, uint32_t cp) { utf8::append(out, cp); }

// Decodes one UTF-8 code point at s[i]; false when malformed.
bool next_codepoint(std::string_view s, size_t& i, uint32_t& cp) {
  const utf8::Char c = utf8::at(s, i);
  if (!c.valid) return false;
  cp = c.cp;
  i += c.len;
  return true;
}

constexpr size_t kCacheMax = 1 << 16;  // entries; the cache is cleared when it grows past this

}  // namespace

const std::array<uint32_t, 256>& gpt2_byte_to_codepoint() {
  static const std::array<uint32_t, 256> table = make_byte_table();
  return table;
}

std::string gpt2_bytes_to_unicode(std::string_view bytes) {
  const auto& t = gpt2_byte_to_codepoint();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, t[static_cast<unsigned char>(c)]);
  return out;
}

bool gpt2_unicode_to_bytes(std::string_view text, std::string& out) {
  // Inverse table over code points 0..323 (the largest mapped one is U+0143).
  static const std::array<int16_t, 324> inv = [] {
    std::array<int16_t, 324> a{};
    a.fill(-1);
    const auto& t = gpt2_byte_to_codepoint();
    for (int b = 0; b < 256; ++b) a[t[b]] = static_cast<int16_t>(b);
    return a;
  }();
  out.clear();
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp;
    if (!next_codepoint(text, i, cp)) return false;
    if (cp >= inv.size() || inv[cp] < 0) return false;
    out += static_cast<char>(inv[cp]);
  }
  return true;
}

BpeTokenizer::BpeTokenizer(const BpeVocab& v) : pre_(std::vector<std::string>{}) {
  const size_t n = v.tokens.size();
  if (n == 0) throw Error("the BPE vocabulary is empty", "use a GGUF file with tokenizer.ggml.tokens");
  if (n > static_cast<size_t>(INT32_MAX)) throw Error("the BPE vocabulary is too large");
  if (!v.types.empty() && v.types.size() != n)
    throw Error("tokenizer.ggml.token_type has " + std::to_string(v.types.size()) + " entries for " +
                    std::to_string(n) + " tokens",
                "re-convert the model with a current llama.cpp convert_hf_to_gguf.py");
  auto check_id = [n](int32_t id, const char* what) {
    if (id < -1 || id >= static_cast<int32_t>(n))
      throw Error(std::string(what) + " token id " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(n) + " tokens",
                  "fix the model's tokenizer.ggml metadata");
  };
  check_id(v.bos, "BOS");
  check_id(v.eos, "EOS");
  bos_ = v.bos;
  eos_ = v.eos;
  add_bos_ = v.add_bos && bos_ >= 0;
  add_eos_ = v.add_eos && eos_ >= 0;

  pieces_.resize(n);
  types_.resize(n, TokenType::Normal);
  std::unordered_map<std::string_view, int32_t> by_form;  // stored (byte-level) form -> id
  by_form.reserve(n * 2);
  by_bytes_.reserve(n * 2);
  byte_token_.fill(-1);
  size_t not_byte_level = 0;
  for (size_t id = 0; id < n; ++id) {
    const int32_t ty = v.types.empty() ? 1 : v.types[id];
    types_[id] = (ty >= 0 && ty <= 6) ? static_cast<TokenType>(ty) : TokenType::Undefined;
    const std::string& tok = v.tokens[id];
    by_form.emplace(tok, static_cast<int32_t>(id));
    const bool plain = types_[id] == TokenType::Control || types_[id] == TokenType::UserDefined;
    if (plain || !gpt2_unicode_to_bytes(tok, pieces_[id])) {
      if (!plain) ++not_byte_level;
      pieces_[id] = tok;
    }
    by_bytes_.emplace(pieces_[id], static_cast<int32_t>(id));
    if (!plain && pieces_[id].size() == 1) {
      int32_t& slot = byte_token_[static_cast<unsigned char>(pieces_[id][0])];
      if (slot < 0) slot = static_cast<int32_t>(id);
    }
    if (plain && !tok.empty()) specials_by_first_[static_cast<unsigned char>(tok[0])].push_back(static_cast<int32_t>(id));
  }
  for (auto& list : specials_by_first_)
    std::stable_sort(list.begin(), list.end(),
                     [this](int32_t a, int32_t b) { return pieces_[a].size() > pieces_[b].size(); });
  if (not_byte_level > 0)
    spdlog::warn("tokenizer: {} of {} tokens are not in the GPT-2 byte-level form; they decode as written",
                 not_byte_level, n);
  const int missing_bytes = static_cast<int>(std::count(byte_token_.begin(), byte_token_.end(), -1));
  if (missing_bytes > 0)
    spdlog::debug("tokenizer: {} byte values have no single-byte token; such bytes are dropped when encoding",
                 missing_bytes);

  merges_.reserve(v.merges.size() * 2);
  std::string joined;
  for (size_t rank = 0; rank < v.merges.size(); ++rank) {
    const std::string& m = v.merges[rank];
    const size_t sp = m.find(' ', 1);  // the left part is never empty; a space cannot be inside it
    if (sp == std::string::npos) {
      ++skipped_merges_;
      continue;
    }
    const std::string_view left(m.data(), sp), right(m.data() + sp + 1, m.size() - sp - 1);
    joined.assign(left);
    joined.append(right);
    const auto l = by_form.find(left), r = by_form.find(right), j = by_form.find(joined);
    if (l == by_form.end() || r == by_form.end() || j == by_form.end()) {
      ++skipped_merges_;
      continue;
    }
    const uint64_t key = (uint64_t(uint32_t(l->second)) << 32) | uint32_t(r->second);
    merges_.emplace(key, std::make_pair(static_cast<int32_t>(rank), j->second));  // first rank wins
  }
  if (skipped_merges_ > 0)
    spdlog::warn("tokenizer: {} of {} merges name tokens that are not in the vocabulary; they are ignored",
                 skipped_merges_, v.merges.size());

  bool known = true;
  PreTokenizerRule rule = pre_tokenizer_rule(v.pre, &known);
  if (!known)
    spdlog::warn("tokenizer: unknown pre-tokenizer \"{}\" (tokenizer.ggml.pre); using the GPT-2 default, so "
                 "tokens may differ from the model's own tokenizer",
                 v.pre);
  pre_ = PreTokenizer(rule.regexes);
  pre_name_ = rule.name;
  ignore_merges_ = rule.ignore_merges;
}

TokenType BpeTokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return TokenType::Undefined;
  return types_[id];
}

std::string BpeTokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab_size()) +
                " tokens");
  return pieces_[id];
}

int32_t BpeTokenizer::token_id(std::string_view text) const {
  const auto it = by_bytes_.find(std::string(text));
  return it == by_bytes_.end() ? -1 : it->second;
}

std::vector<BpeTokenizer::Fragment> BpeTokenizer::split_special(std::string_view text) const {
  std::vector<Fragment> out;
  size_t start = 0;  // start of the current plain fragment
  size_t i = 0;
  while (i < text.size()) {
    const auto& cands = specials_by_first_[static_cast<unsigned char>(text[i])];
    int32_t hit = -1;
    for (int32_t id : cands) {  // longest first
      const std::string& s = pieces_[id];
      if (text.compare(i, s.size(), s) == 0) {
        hit = id;
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    if (i > start) out.push_back({text.substr(start, i - start), -1});
    out.push_back({text.substr(i, pieces_[hit].size()), hit});
    i += pieces_[hit].size();
    start = i;
  }
  if (start < text.size()) out.push_back({text.substr(start), -1});
  return out;
}

void BpeTokenizer::bpe_uncached(std::string_view piece, std::vector<int32_t>& out) const {
  struct Sym {
    int32_t id;
    int32_t prev, next;  // indices into syms, -1 at the ends
  };
  struct Cand {
    int32_t rank, pos;  // pos: the left symbol
    int32_t left, right, merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Sym> syms;
  syms.reserve(piece.size());
  for (char c : piece) {
    const int32_t id = byte_token_[static_cast<unsigned char>(c)];
    if (id < 0) continue;  // no token for this byte (not in byte-level vocabularies): dropped
    const int32_t k = static_cast<int32_t>(syms.size());
    syms.push_back({id, k - 1, -1});
    if (k > 0) syms[k - 1].next = k;
  }
  if (syms.empty()) return;
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> q;
  auto consider = [&](int32_t pos) {
    if (pos < 0) return;
    const int32_t nx = syms[pos].next;
    if (nx < 0) return;
    const auto it = merges_.find((uint64_t(uint32_t(syms[pos].id)) << 32) | uint32_t(syms[nx].id));
    if (it != merges_.end()) q.push({it->second.first, pos, syms[pos].id, syms[nx].id, it->second.second});
  };
  for (int32_t k = 0; k + 1 < static_cast<int32_t>(syms.size()); ++k) consider(k);
  while (!q.empty()) {
    const Cand c = q.top();
    q.pop();
    Sym& l = syms[c.pos];
    if (l.id != c.left || l.next < 0) continue;  // the left symbol changed or was merged away
    Sym& r = syms[l.next];
    if (r.id != c.right) continue;
    // Merge r into l.
    l.id = c.merged;
    const int32_t after = r.next;
    r.id = -1;
    l.next = after;
    if (after >= 0) syms[after].prev = c.pos;
    consider(l.prev);
    consider(c.pos);
  }
  for (int32_t k = 0; k >= 0; k = syms[k].next) out.push_back(syms[k].id);
}

void BpeTokenizer::bpe(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    const int32_t id = byte_token_[static_cast<unsigned char>(piece[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  if (ignore_merges_) {
    const auto it = by_bytes_.find(std::string(piece));
    if (it != by_bytes_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::string key(piece);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  bpe_uncached(piece, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kCacheMax) cache_.clear();
  cache_.emplace(std::move(key), std::move(ids));
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && add_bos_) out.push_back(bos_);
  std::vector<std::string_view> pieces;
  auto plain = [&](std::string_view frag) {
    pieces.clear();
    pre_.split(frag, pieces);
    for (std::string_view p : pieces) bpe(p, out);
  };
  if (parse_special) {
    for (const Fragment& f : split_special(text)) {
      if (f.special >= 0)
        out.push_back(f.special);
      else
        plain(f.text);
    }
  } else {
    plain(text);
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error("cannot decode token id " + std::to_string(id) + ": outside the vocabulary of " +
                  std::to_string(vocab_size()) + " tokens");
    if (skip_special && types_[id] == TokenType::Control) continue;
    out += pieces_[id];
  }
  return out;
}

}  // namespace mtk::llm
