#include "devops_model/formats/pickle.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <variant>

#include "devops_model/core/error.h"

namespace dm {

namespace {

// Values the machine can hold. Globals are names, never callables.
struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Global {
  std::string module, name;
};
struct Storage {
  DType dtype;
  std::string key;
  int64_t numel;
};
struct None {};
struct Tuple {
  std::vector<ValuePtr> items;
};
struct List {
  std::vector<ValuePtr> items;
};
struct Dict {
  std::vector<std::pair<ValuePtr, ValuePtr>> items;
};
struct Value {
  std::variant<None, bool, int64_t, double, std::string, Global, Storage, Tuple, List, Dict, PickledTensor> v;
  int depth = 0;  // nesting depth, bounded so that destruction cannot overflow the stack
};

constexpr int kMaxDepth = 256;

ValuePtr make(auto x) { return std::make_shared<Value>(Value{std::move(x)}); }

bool storage_dtype(const std::string& name, DType* dt) {
  static const std::pair<const char*, DType> kMap[] = {
      {"BFloat16Storage", DType::kBF16}, {"HalfStorage", DType::kF16}, {"FloatStorage", DType::kF32},
      {"DoubleStorage", DType::kF64},    {"LongStorage", DType::kI64}, {"IntStorage", DType::kI32},
      {"ShortStorage", DType::kI16},     {"CharStorage", DType::kI8},  {"ByteStorage", DType::kU8},
      {"BoolStorage", DType::kBool},
  };
  for (const auto& [n, t] : kMap) {
    if (name == n) {
      *dt = t;
      return true;
    }
  }
  return false;
}

bool global_allowed(const Global& g) {
  DType dt;
  if (g.module == "collections" && g.name == "OrderedDict") return true;
  if (g.module == "torch._utils" && (g.name == "_rebuild_tensor_v2" || g.name == "_rebuild_parameter")) return true;
  if (g.module == "torch" && storage_dtype(g.name, &dt)) return true;
  return false;
}

class Machine {
 public:
  Machine(const uint8_t* d, size_t n, const std::string& where) : d_(d), n_(n), where_(where) {}
  // A hostile pickle can make a container hold itself (through the memo); emptying every container
  // we created breaks such cycles so nothing leaks.
  ~Machine() {
    for (auto& c : containers_) {
      if (auto* t = std::get_if<Tuple>(&c->v)) t->items.clear();
      if (auto* l = std::get_if<List>(&c->v)) l->items.clear();
      if (auto* d = std::get_if<Dict>(&c->v)) d->items.clear();
    }
  }
  ValuePtr run();

 private:
  [[noreturn]] void bad(const std::string& msg) const {
    fail(ErrorKind::kFormat, where_, ": pickle offset ", op_pos_, ": ", msg);
  }
  template <typename T>
  T read() {
    if (sizeof(T) > n_ - p_) bad("truncated");
    T v;
    std::memcpy(&v, d_ + p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::string read_bytes(uint64_t len) {
    if (len > n_ - p_) bad("string runs past the end");
    std::string s(reinterpret_cast<const char*>(d_ + p_), len);
    p_ += len;
    return s;
  }
  std::string read_line() {
    size_t e = p_;
    while (e < n_ && d_[e] != '\n') ++e;
    if (e >= n_) bad("unterminated line");
    std::string s(reinterpret_cast<const char*>(d_ + p_), e - p_);
    p_ = e + 1;
    return s;
  }
  ValuePtr pop() {
    if (stack_.size() <= mark_floor()) bad("stack underflow");
    ValuePtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  size_t mark_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) bad("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + static_cast<long>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  ValuePtr& top() {
    if (stack_.size() <= mark_floor()) bad("stack underflow");
    return stack_.back();
  }
  void push_global(Global g);
  void push_tuple(std::vector<ValuePtr> items) {
    int depth = 0;
    for (const auto& i : items) depth = std::max(depth, i->depth + 1);
    check_depth(depth);
    auto v = make(Tuple{std::move(items)});
    v->depth = depth;
    push_container(v);
  }
  void push_container(ValuePtr v) {
    containers_.push_back(v);
    stack_.push_back(std::move(v));
  }
  void check_depth(int depth) {
    if (depth > kMaxDepth) bad("objects nested deeper than " + std::to_string(kMaxDepth));
  }
  // Records that container c now holds v.
  void grow(Value& c, const ValuePtr& v) {
    check_depth(v->depth + 1);
    c.depth = std::max(c.depth, v->depth + 1);
  }
  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args);
  ValuePtr persistent_load(const ValuePtr& pid);
  void set_items(Dict& d, std::vector<ValuePtr> kv);
  void memo_put(uint64_t idx) { memo_[idx] = top(); }
  ValuePtr memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) bad("memo index " + std::to_string(idx) + " never stored");
    return it->second;
  }
  int64_t as_int(const ValuePtr& v, const char* what) {
    if (auto* i = std::get_if<int64_t>(&v->v)) return *i;
    bad(std::string(what) + " is not an integer");
  }
  std::vector<int64_t> as_int_tuple(const ValuePtr& v, const char* what) {
    auto* t = std::get_if<Tuple>(&v->v);
    if (!t) bad(std::string(what) + " is not a tuple");
    std::vector<int64_t> out;
    for (const auto& x : t->items) out.push_back(as_int(x, what));
    return out;
  }

  const uint8_t* d_;
  size_t n_, p_ = 0, op_pos_ = 0;
  std::string where_;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, ValuePtr> memo_;
  std::vector<ValuePtr> containers_;
};

void Machine::push_global(Global g) {
  if (!global_allowed(g))
    fail(ErrorKind::kSecurity, where_, ": refusing pickle global ", g.module, ".", g.name,
         " (only tensor-rebuild globals are allowed; the file may be malicious)");
  stack_.push_back(make(std::move(g)));
}

ValuePtr Machine::persistent_load(const ValuePtr& pid) {
  auto* t = std::get_if<Tuple>(&pid->v);
  if (!t || t->items.size() != 5) bad("persistent id is not a 5-tuple");
  auto* tag = std::get_if<std::string>(&t->items[0]->v);
  auto* cls = std::get_if<Global>(&t->items[1]->v);
  auto* key = std::get_if<std::string>(&t->items[2]->v);
  if (!tag || *tag != "storage" || !cls || !key) bad("persistent id is not (\"storage\", type, key, location, numel)");
  Storage s;
  if (cls->module != "torch" || !storage_dtype(cls->name, &s.dtype)) bad("unknown storage type " + cls->name);
  s.key = *key;
  s.numel = as_int(t->items[4], "storage numel");
  return make(std::move(s));
}

ValuePtr Machine::reduce(const ValuePtr& callable, const ValuePtr& args) {
  auto* g = std::get_if<Global>(&callable->v);
  auto* a = std::get_if<Tuple>(&args->v);
  if (!g || !a) bad("REDUCE needs an allowed global and an argument tuple");
  if (g->module == "collections" && g->name == "OrderedDict") return make(Dict{});
  if (g->name == "_rebuild_parameter") {
    if (a->items.empty() || !std::holds_alternative<PickledTensor>(a->items[0]->v))
      bad("_rebuild_parameter needs a tensor");
    return a->items[0];
  }
  if (g->name == "_rebuild_tensor_v2") {
    if (a->items.size() < 4) bad("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)");
    auto* s = std::get_if<Storage>(&a->items[0]->v);
    if (!s) bad("_rebuild_tensor_v2's first argument is not a storage");
    PickledTensor t;
    t.dtype = s->dtype;
    t.storage_key = s->key;
    t.storage_numel = s->numel;
    t.offset = as_int(a->items[1], "storage offset");
    std::vector<int64_t> size = as_int_tuple(a->items[2], "size");
    t.shape.assign(size.begin(), size.end());
    t.stride = as_int_tuple(a->items[3], "stride");
    if (t.stride.size() != t.shape.size()) bad("size and stride ranks differ");
    return make(std::move(t));
  }
  bad("REDUCE on " + g->module + "." + g->name + " is not allowed");
}

void Machine::set_items(Dict& d, std::vector<ValuePtr> kv) {
  if (kv.size() % 2) bad("SETITEMS with an odd number of items");
  for (size_t i = 0; i < kv.size(); i += 2) d.items.emplace_back(kv[i], kv[i + 1]);
}

ValuePtr Machine::run() {
  while (p_ < n_) {
    op_pos_ = p_;
    uint8_t op = d_[p_++];
    switch (op) {
      case 0x80: read<uint8_t>(); break;                 // PROTO
      case 0x95: read<uint64_t>(); break;                // FRAME
      case '.': return pop();                            // STOP
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case 'N': stack_.push_back(make(None{})); break;
      case 0x88: stack_.push_back(make(true)); break;
      case 0x89: stack_.push_back(make(false)); break;
      case 'J': stack_.push_back(make(static_cast<int64_t>(read<int32_t>()))); break;
      case 'K': stack_.push_back(make(static_cast<int64_t>(read<uint8_t>()))); break;
      case 'M': stack_.push_back(make(static_cast<int64_t>(read<uint16_t>()))); break;
      case 0x8a: {  // LONG1: little-endian two's complement
        uint8_t len = read<uint8_t>();
        if (len > 8) bad("LONG1 wider than 64 bits");
        std::string b = read_bytes(len);
        uint64_t u = 0;
        for (size_t i = 0; i < len; ++i) u |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
        if (len > 0 && len < 8 && (static_cast<uint8_t>(b[len - 1]) & 0x80)) u |= ~uint64_t{0} << (8 * len);
        stack_.push_back(make(static_cast<int64_t>(u)));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u = (u << 8) | read<uint8_t>();
        double x;
        std::memcpy(&x, &u, 8);
        stack_.push_back(make(x));
        break;
      }
      case 'X': stack_.push_back(make(read_bytes(read<uint32_t>()))); break;
      case 0x8c: stack_.push_back(make(read_bytes(read<uint8_t>()))); break;
      case 0x8d: stack_.push_back(make(read_bytes(read<uint64_t>()))); break;
      case 'C': stack_.push_back(make(read_bytes(read<uint8_t>()))); break;
      case 'B': stack_.push_back(make(read_bytes(read<uint32_t>()))); break;
      case ')': stack_.push_back(make(Tuple{})); break;
      case '}': push_container(make(Dict{})); break;
      case ']': push_container(make(List{})); break;
      case 't': push_tuple(pop_mark()); break;
      case 0x85: {
        auto a = pop();
        push_tuple({a});
        break;
      }
      case 0x86: {
        auto b = pop(), a = pop();
        push_tuple({a, b});
        break;
      }
      case 0x87: {
        auto c = pop(), b = pop(), a = pop();
        push_tuple({a, b, c});
        break;
      }
      case 'q': memo_put(read<uint8_t>()); break;
      case 'r': memo_put(read<uint32_t>()); break;
      case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
      case 'h': stack_.push_back(memo_get(read<uint8_t>())); break;
      case 'j': stack_.push_back(memo_get(read<uint32_t>())); break;
      case 'c': {  // GLOBAL "module\nname\n"
        std::string mod = read_line();
        std::string name = read_line();
        push_global({mod, name});
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop(), mod = pop();
        auto* m = std::get_if<std::string>(&mod->v);
        auto* n = std::get_if<std::string>(&name->v);
        if (!m || !n) bad("STACK_GLOBAL needs two strings");
        push_global({*m, *n});
        break;
      }
      case 'Q': {
        auto pid = pop();
        stack_.push_back(persistent_load(pid));
        break;
      }
      case 'R': {
        auto args = pop(), fn = pop();
        push_container(reduce(fn, args));
        break;
      }
      case 'b': {  // BUILD: only the no-op state of OrderedDict/tensors (e.g. _metadata)
        pop();
        auto& t = top();
        if (!std::holds_alternative<Dict>(t->v) && !std::holds_alternative<PickledTensor>(t->v))
          bad("BUILD on something other than a dict or tensor");
        break;
      }
      case 's': {
        auto v = pop(), k = pop();
        auto* d = std::get_if<Dict>(&top()->v);
        if (!d) bad("SETITEM on a non-dict");
        grow(*top(), k);
        grow(*top(), v);
        d->items.emplace_back(k, v);
        break;
      }
      case 'u': {
        auto kv = pop_mark();
        auto* d = std::get_if<Dict>(&top()->v);
        if (!d) bad("SETITEMS on a non-dict");
        for (const auto& x : kv) grow(*top(), x);
        set_items(*d, std::move(kv));
        break;
      }
      case 'a': {
        auto v = pop();
        auto* l = std::get_if<List>(&top()->v);
        if (!l) bad("APPEND on a non-list");
        grow(*top(), v);
        l->items.push_back(v);
        break;
      }
      case 'e': {
        auto items = pop_mark();
        auto* l = std::get_if<List>(&top()->v);
        if (!l) bad("APPENDS on a non-list");
        for (const auto& x : items) grow(*top(), x);
        l->items.insert(l->items.end(), items.begin(), items.end());
        break;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        bad(std::string("unsupported pickle opcode ") + hex);
      }
    }
  }
  bad("no STOP opcode");
}

}  // namespace

std::vector<std::pair<std::string, PickledTensor>> unpickle_state_dict(const uint8_t* data, size_t size,
                                                                       const std::string& where) {
  Machine m(data, size, where);
  ValuePtr root = m.run();
  auto* d = std::get_if<Dict>(&root->v);
  if (!d) fail(ErrorKind::kFormat, where, ": pickle does not hold a dict of tensors");
  std::vector<std::pair<std::string, PickledTensor>> out;
  for (const auto& [k, v] : d->items) {
    auto* name = std::get_if<std::string>(&k->v);
    auto* t = std::get_if<PickledTensor>(&v->v);
    if (!name) fail(ErrorKind::kFormat, where, ": state dict key is not a string");
    if (!t) fail(ErrorKind::kFormat, where, ": state dict entry \"", *name, "\" is not a tensor");
    out.emplace_back(*name, *t);
  }
  return out;
}

}  // namespace dm
