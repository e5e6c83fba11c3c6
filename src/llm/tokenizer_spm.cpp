// SentencePiece vocabularies, tokenized as llama.cpp does (see tokenizer_spm.hpp for the algorithm).
#include "mtk/llm/tokenizer_spm.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <queue>
#include <utility>

#include "mtk/core/error.hpp"

namespace mtk::llm {

namespace {

// ---- UTF-8 ------------------------------------------------------------------------------------

// llama.cpp's character length from the lead byte (continuation bytes count as 1).
size_t lead_length(unsigned char c) {
  static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lookup[c >> 4];
}

const std::string kSpaceSymbol = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.data() + pos, hit - pos);
    out.append(to.data(), to.size());
    pos = hit + from.size();
  }
  out.append(s.data() + pos, s.size() - pos);
  return out;
}

}  // namespace

// A byte-wise trie over the special tokens, to find which of them occur in a text.
struct SpmTokenizer::Trie {
  struct Node {
    std::map<unsigned char, int32_t> next;
    int32_t id = -1;  // the rank in specials_ of the token ending here
  };
  std::vector<Node> nodes{Node{}};

  void insert(std::string_view text, int32_t id) {
    int32_t n = 0;
    for (char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      auto it = nodes[n].next.find(c);
      if (it == nodes[n].next.end()) {
        nodes.push_back(Node{});
        it = nodes[n].next.emplace(c, static_cast<int32_t>(nodes.size() - 1)).first;
      }
      n = it->second;
    }
    nodes[n].id = id;
  }
};

SpmTokenizer::SpmTokenizer(const SpmVocab& v)
    : bos_(v.bos), eos_(v.eos), unk_(v.unk), add_bos_(v.add_bos), add_eos_(v.add_eos),
      add_space_prefix_(v.add_space_prefix) {
  const size_t n = v.tokens.size();
  if (n == 0) throw Error("the SentencePiece vocabulary is empty", "re-convert the model with its vocabulary");
  if (n >= 0x7FFFFFFF) throw Error("the SentencePiece vocabulary is too large");
  if (!v.scores.empty() && v.scores.size() != n)
    throw Error("tokenizer.ggml.scores has " + std::to_string(v.scores.size()) + " entries for " +
                    std::to_string(n) + " tokens",
                "re-convert the model");
  if (!v.types.empty() && v.types.size() != n)
    throw Error("tokenizer.ggml.token_type has " + std::to_string(v.types.size()) + " entries for " +
                    std::to_string(n) + " tokens",
                "re-convert the model");
  for (auto [id, name] : {std::pair{v.bos, "bos"}, std::pair{v.eos, "eos"}, std::pair{v.unk, "unknown"}})
    if (id < -1 || id >= static_cast<int64_t>(n))
      throw Error(std::string("tokenizer.ggml.") + name + "_token_id " + std::to_string(id) +
                      " is outside the vocabulary of " + std::to_string(n),
                  "fix the model's metadata");
  if (add_bos_ && bos_ < 0)
    throw Error("SentencePiece vocabulary: tokenizer.ggml.add_bos_token is true (the default) but there is no "
                "tokenizer.ggml.bos_token_id",
                "fix the model's metadata");
  if (add_eos_ && eos_ < 0)
    throw Error("SentencePiece vocabulary: tokenizer.ggml.add_eos_token is true but there is no "
                "tokenizer.ggml.eos_token_id",
                "fix the model's metadata");

  tokens_.resize(n);
  types_.resize(n, TokenType::Normal);
  by_text_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    tokens_[i] = v.tokens[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : v.tokens[i];
    if (!v.types.empty()) {
      const int32_t t = v.types[i];
      types_[i] = t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::Undefined;
    }
    if (!by_text_.emplace(tokens_[i], static_cast<int32_t>(i)).second)
      throw Error("duplicate token in the SentencePiece vocabulary: \"" + tokens_[i] + "\" has ids " +
                      std::to_string(by_text_[tokens_[i]]) + " and " + std::to_string(i),
                  "re-convert the model");
  }

  // llama.cpp makes these tokens control tokens whatever their stored type (its end-of-generation,
  // end-of-turn and fill-in-the-middle markers, found by text): e.g. Gemma 3's user-defined "</s>".
  static const char* const kControlTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
      "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
      "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>",
      "[e~[", "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>",
      "▁<PRE>", "<|code_prefix|>", "<|prefix|>", "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
      "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>",
      "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
      "▁<MID>", "<|code_middle|>", "<|middle|>", "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
      "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"};
  for (const char* text : kControlTexts) {
    const auto it = by_text_.find(text);
    if (it != by_text_.end()) types_[it->second] = TokenType::Control;
  }

  // Byte tokens: "<0xAB>", else a one-byte token with that text.
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
    auto it = by_text_.find(name);
    if (it == by_text_.end()) it = by_text_.find(std::string(1, static_cast<char>(b)));
    byte_token_[b] = it == by_text_.end() ? -1 : it->second;
  }

  // Special tokens, longest first (ties by id).
  for (size_t i = 0; i < n; ++i) {
    const TokenType t = types_[i];
    if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown)
      specials_.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(specials_.begin(), specials_.end(),
                   [&](int32_t a, int32_t b) { return tokens_[a].size() > tokens_[b].size(); });
  for (int mode = 0; mode < 2; ++mode) {  // 0: user-defined only, 1: all specials
    tries_[mode] = std::make_unique<Trie>();
    for (size_t rank = 0; rank < specials_.size(); ++rank) {
      const int32_t id = specials_[rank];
      if (mode == 1 || types_[id] == TokenType::UserDefined) tries_[mode]->insert(tokens_[id], static_cast<int32_t>(rank));
    }
  }

  scores_ = v.scores.empty() ? std::vector<float>(n, 0.0f) : v.scores;
}

SpmTokenizer::~SpmTokenizer() = default;

void SpmTokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab_size()));
}

const std::string& SpmTokenizer::piece(int32_t id) const {
  check_id(id);
  return tokens_[id];
}

TokenType SpmTokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return TokenType::Undefined;
  return types_[id];
}

bool SpmTokenizer::is_special(int32_t id) const {
  const TokenType t = token_type(id);
  return t == TokenType::Control || t == TokenType::Unknown;
}

std::vector<SpmTokenizer::Fragment> SpmTokenizer::split_special(std::string_view text, bool parse_special) const {
  struct Frag {
    size_t off, len;
    int32_t special;
  };
  std::vector<Frag> frags;
  if (text.empty()) return {};
  frags.push_back({0, text.size(), -1});

  // Which special tokens occur in the text at all (the others cannot split anything), by their
  // rank in specials_ (the order in which they are cut out).
  const Trie& trie = *tries_[parse_special ? 1 : 0];
  if (trie.nodes.size() == 1) return {{text, -1}};
  std::vector<int32_t> ranks;
  for (size_t p = 0; p < text.size(); ++p) {
    int32_t node = 0;
    for (size_t q = p; q < text.size(); ++q) {
      const auto& next = trie.nodes[node].next;
      auto it = next.find(static_cast<unsigned char>(text[q]));
      if (it == next.end()) break;
      node = it->second;
      if (trie.nodes[node].id >= 0) ranks.push_back(trie.nodes[node].id);
    }
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());

  for (int32_t rank : ranks) {
    const int32_t id = specials_[rank];
    const std::string& tok = tokens_[id];
    std::vector<Frag> next;
    next.reserve(frags.size() + 4);
    for (const Frag& f : frags) {
      if (f.special >= 0) {
        next.push_back(f);
        continue;
      }
      size_t off = f.off, end = f.off + f.len;
      while (off < end) {
        const size_t hit = text.substr(0, end).find(tok, off);
        if (hit == std::string_view::npos) break;
        if (hit > off) next.push_back({off, hit - off, -1});
        next.push_back({hit, tok.size(), id});
        off = hit + tok.size();
      }
      if (off < end) next.push_back({off, end - off, -1});
    }
    frags.swap(next);
  }

  std::vector<Fragment> out;
  out.reserve(frags.size());
  for (const Frag& f : frags) out.push_back({text.substr(f.off, f.len), f.special});
  return out;
}

void SpmTokenizer::append_bytes(std::string_view bytes, std::vector<int32_t>& out) const {
  for (char c : bytes) {
    const int32_t id = byte_token_[static_cast<unsigned char>(c)];
    if (id >= 0)
      out.push_back(id);
    else if (unk_ >= 0)
      out.push_back(unk_);
  }
}

void SpmTokenizer::tokenize_fragment(std::string_view text, std::vector<int32_t>& out) const {
  // Symbols: the characters, then merged runs of them, in a doubly linked list.
  struct Symbol {
    size_t start, len;
    int32_t prev, next;
  };
  std::vector<Symbol> sym;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = std::min(lead_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
    const auto k = static_cast<int32_t>(sym.size());
    sym.push_back({pos, len, k - 1, pos + len < text.size() ? k + 1 : -1});
    pos += len;
  }
  if (sym.empty()) return;

  // Candidate merges: the best score first, then the leftmost.
  struct Candidate {
    float score;
    int32_t left, right;
    size_t len;  // of the merged text, to notice candidates made stale by other merges
  };
  const auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(worse);
  std::string key;
  const auto consider = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    key.assign(text.data() + sym[l].start, sym[l].len + sym[r].len);
    const auto it = by_text_.find(key);
    if (it == by_text_.end()) return;
    queue.push({scores_[it->second], l, r, key.size()});
  };
  for (int32_t k = 1; k < static_cast<int32_t>(sym.size()); ++k) consider(k - 1, k);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    Symbol& r = sym[c.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != c.len) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    consider(l.prev, c.left);
    consider(c.left, l.next);
  }

  // Each symbol left is a vocabulary entry, or a character without one: its bytes.
  for (int32_t k = 0; k >= 0; k = sym[k].next) {
    const std::string_view piece = text.substr(sym[k].start, sym[k].len);
    const auto it = by_text_.find(std::string(piece));
    if (it != by_text_.end())
      out.push_back(it->second);
    else
      append_bytes(piece, out);
  }
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_) out.push_back(bos_);
  bool prev_special = true;
  for (const Fragment& f : split_special(text, parse_special)) {
    if (f.special >= 0) {
      out.push_back(f.special);
      prev_special = true;
      continue;
    }
    std::string raw;
    if (add_space_prefix_ && prev_special) raw += ' ';
    raw.append(f.text.data(), f.text.size());
    tokenize_fragment(replace_all(raw, " ", kSpaceSymbol), out);
    prev_special = false;
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

std::string SpmTokenizer::token_text(int32_t id) const {
  check_id(id);
  const std::string& t = tokens_[id];
  switch (types_[id]) {
    case TokenType::Normal:
      return replace_all(t, kSpaceSymbol, " ");
    case TokenType::Byte:
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>')
        return std::string(1, static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
      return t;
    case TokenType::Control:
    case TokenType::UserDefined:
    case TokenType::Unknown:
      return t;
    case TokenType::Unused:
    case TokenType::Undefined:
      return {};
  }
  return {};
}

std::string SpmTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    check_id(id);
    if (skip_special && is_special(id)) {
      first = false;
      continue;
    }
    std::string piece = token_text(id);
    if (first && add_space_prefix_ && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    first = false;
    out += piece;
  }
  return out;
}

int32_t SpmTokenizer::token_id(std::string_view text) const {
  auto it = by_text_.find(std::string(text));
  if (it != by_text_.end()) {
    const TokenType t = types_[it->second];
    if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) return it->second;
  }
  it = by_text_.find(replace_all(text, " ", kSpaceSymbol));
  if (it != by_text_.end() && types_[it->second] == TokenType::Normal) return it->second;
  if (text.size() == 1) {
    const int32_t id = byte_token_[static_cast<unsigned char>(text[0])];
    if (id >= 0 && types_[id] == TokenType::Byte) return id;
  }
  return -1;
}

}  // namespace mtk::llm
