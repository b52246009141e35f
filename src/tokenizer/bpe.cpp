// BPE merge loop. Short pieces (the vast majority) use tiktoken's flat scan over a small stack array;
// long pieces use a priority queue over a linked list, so a 100k-byte run costs O(n log n), not O(n^2).
#include "bpe.h"

#include <algorithm>
#include <functional>
#include <queue>

#include "devops_model/core/error.h"

namespace dm {
namespace {
constexpr size_t kShortPiece = 64;

size_t hash_bytes(std::string_view s) { return std::hash<std::string_view>{}(s); }
}  // namespace

void BpeModel::add_token(std::string bytes, int32_t id) {
  DM_CHECK(id >= 0);
  const auto i = static_cast<size_t>(id);
  if (i >= bytes_.size()) {
    bytes_.resize(i + 1);
    present_.resize(i + 1, false);
  }
  if (!present_[i]) ++count_;
  bytes_[i] = std::move(bytes);
  present_[i] = true;
}

bool BpeModel::add_merge(int32_t a, int32_t b, int32_t merged, int32_t rank) {
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  return merges_.emplace(key, Merge{rank, merged}).second;
}

void BpeModel::finalize() {
  size_t cap = 16;
  while (cap < count_ * 2) cap *= 2;
  table_.assign(cap, -1);
  mask_ = cap - 1;
  for (size_t id = 0; id < bytes_.size(); ++id) {
    if (!present_[id]) continue;
    size_t h = hash_bytes(bytes_[id]) & mask_;
    while (table_[h] >= 0) {
      // Two ids with the same bytes: keep the lower one (as a dict built in rank order would not,
      // but such files are broken anyway; a stable choice is enough).
      if (bytes_[static_cast<size_t>(table_[h])] == bytes_[id]) break;
      h = (h + 1) & mask_;
    }
    if (table_[h] < 0) table_[h] = static_cast<int32_t>(id);
  }
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    auto id = find(std::string_view(&c, 1));
    if (!id) fail(ErrorKind::kFormat, "BPE vocabulary lacks the single byte 0x", std::hex, b);
    byte_id_[b] = *id;
  }
}

std::optional<int32_t> BpeModel::find(std::string_view s) const {
  if (table_.empty()) return std::nullopt;
  size_t h = hash_bytes(s) & mask_;
  while (true) {
    const int32_t id = table_[h];
    if (id < 0) return std::nullopt;
    if (bytes_[static_cast<size_t>(id)] == s) return id;
    h = (h + 1) & mask_;
  }
}

BpeModel::Merge BpeModel::pair_merge(std::string_view piece, size_t start, size_t len, int32_t a, int32_t b) const {
  if (mode_ == Mode::kTiktoken) {
    auto id = find(piece.substr(start, len));
    return id ? Merge{*id, *id} : Merge{kNoRank, -1};
  }
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  auto it = merges_.find(key);
  return it == merges_.end() ? Merge{kNoRank, -1} : it->second;
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    out.push_back(byte_id_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  // tiktoken emits a piece that is itself a token without merging (HF BPE always merges).
  if (mode_ == Mode::kTiktoken) {
    if (auto id = find(piece)) {
      out.push_back(*id);
      return;
    }
  }
  if (piece.size() <= kShortPiece) {
    encode_short(piece, out);
  } else {
    encode_long(piece, out);
  }
}

void BpeModel::encode_short(std::string_view piece, std::vector<int32_t>& out) const {
  size_t start[kShortPiece + 1];
  int32_t id[kShortPiece];
  Merge m[kShortPiece];
  size_t cnt = piece.size();
  for (size_t i = 0; i < cnt; ++i) {
    start[i] = i;
    id[i] = byte_id_[static_cast<unsigned char>(piece[i])];
  }
  start[cnt] = cnt;
  for (size_t i = 0; i + 1 < cnt; ++i) m[i] = pair_merge(piece, i, 2, id[i], id[i + 1]);
  while (cnt > 1) {
    size_t bi = 0;
    int32_t best = kNoRank;
    for (size_t i = 0; i + 1 < cnt; ++i) {
      if (m[i].rank < best) {
        best = m[i].rank;
        bi = i;
      }
    }
    if (best == kNoRank) break;
    id[bi] = m[bi].id;
    // Drop part bi+1: shift the tails left by one.
    for (size_t i = bi + 1; i < cnt; ++i) start[i] = start[i + 1];
    for (size_t i = bi + 1; i + 1 < cnt; ++i) id[i] = id[i + 1];
    for (size_t i = bi + 1; i + 2 < cnt; ++i) m[i] = m[i + 1];
    --cnt;
    if (bi + 1 < cnt) m[bi] = pair_merge(piece, start[bi], start[bi + 2] - start[bi], id[bi], id[bi + 1]);
    if (bi > 0) m[bi - 1] = pair_merge(piece, start[bi - 1], start[bi + 1] - start[bi - 1], id[bi - 1], id[bi]);
  }
  out.insert(out.end(), id, id + cnt);
}

void BpeModel::encode_long(std::string_view piece, std::vector<int32_t>& out) const {
  // Node i starts as byte i; a merge folds the right node into the left one, whose index (its start
  // byte) therefore orders candidates left to right.
  struct Node {
    size_t len;
    int32_t id, prev, next;
    uint32_t ver;
  };
  struct Cand {
    int32_t rank, left, right, id;
    uint32_t vl, vr;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  const auto n = static_cast<int32_t>(piece.size());
  std::vector<Node> node(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    node[static_cast<size_t>(i)] = {1, byte_id_[static_cast<unsigned char>(piece[static_cast<size_t>(i)])], i - 1,
                                    i + 1 < n ? i + 1 : -1, 0};
  }
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap;
  auto push = [&](int32_t l, int32_t r) {
    const Node& a = node[static_cast<size_t>(l)];
    const Node& b = node[static_cast<size_t>(r)];
    const Merge m = pair_merge(piece, static_cast<size_t>(l), a.len + b.len, a.id, b.id);
    if (m.rank != kNoRank) heap.push({m.rank, l, r, m.id, a.ver, b.ver});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i, i + 1);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Node& a = node[static_cast<size_t>(c.left)];
    Node& b = node[static_cast<size_t>(c.right)];
    if (a.ver != c.vl || b.ver != c.vr) continue;  // stale: one side merged since
    a.len += b.len;
    a.id = c.id;
    ++a.ver;
    ++b.ver;
    a.next = b.next;
    if (a.next >= 0) node[static_cast<size_t>(a.next)].prev = c.left;
    if (a.prev >= 0) push(a.prev, c.left);
    if (a.next >= 0) push(c.left, a.next);
  }
  for (int32_t i = 0; i >= 0; i = node[static_cast<size_t>(i)].next) out.push_back(node[static_cast<size_t>(i)].id);
}

}  // namespace dm

namespace dm {

namespace {

// BPE over `bytes` where only tokens of rank < max_rank may form: the parts it ends with.
std::vector<std::string_view> split_below_rank(const BpeModel& m, std::string_view bytes, int32_t max_rank) {
  std::vector<std::string_view> parts;
  for (size_t i = 0; i < bytes.size(); ++i) parts.push_back(bytes.substr(i, 1));
  while (parts.size() > 1) {
    size_t best = parts.size();
    int32_t best_rank = max_rank;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const std::string_view joined(parts[i].data(), parts[i].size() + parts[i + 1].size());
      const auto id = m.find(joined);
      if (id && *id < best_rank) best = i, best_rank = *id;
    }
    if (best == parts.size()) break;
    parts[best] = std::string_view(parts[best].data(), parts[best].size() + parts[best + 1].size());
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  return parts;
}

}  // namespace

std::vector<std::pair<int32_t, int32_t>> BpeModel::merges_in_order() const {
  std::vector<std::pair<int32_t, int32_t>> out;
  if (mode_ == Mode::kMerges) {
    std::vector<std::pair<int32_t, uint64_t>> by_rank;
    for (const auto& [key, m] : merges_) by_rank.emplace_back(m.rank, key);
    std::sort(by_rank.begin(), by_rank.end());
    for (const auto& [rank, key] : by_rank)
      out.emplace_back(static_cast<int32_t>(key >> 32), static_cast<int32_t>(key & 0xffffffffu));
    return out;
  }
  for (size_t id = 0; id < bytes_.size(); ++id) {
    if (!present_[id] || bytes_[id].size() < 2) continue;
    const auto parts = split_below_rank(*this, bytes_[id], static_cast<int32_t>(id));
    if (parts.size() != 2) fail(ErrorKind::kFormat, "token ", id, " is not the merge of two lower-ranked tokens");
    out.emplace_back(*find(parts[0]), *find(parts[1]));
  }
  return out;
}

}  // namespace dm
