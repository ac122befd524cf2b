// A JSON Schema checker for the subset docs/protocol.md uses (draft
// 2020-12 keywords: type, properties, required, additionalProperties,
// items, enum, const, $ref to #/$defs/..., anyOf, oneOf, minLength,
// minimum, pattern), so that tests can hold the code and the docs' schema
// to each other. Returns the first problem as "path: what", or "".
#pragma once

#include <regex>
#include <string>

#include <boost/json.hpp>

namespace immp::test {

class JsonSchema {
 public:
  explicit JsonSchema(boost::json::value schema) : root_(std::move(schema)) {}

  std::string check(const boost::json::value& v) const { return check(root_, v, "$"); }

 private:
  static bool has_type(const boost::json::value& v, std::string_view t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "boolean") return v.is_bool();
    if (t == "null") return v.is_null();
    if (t == "integer") {
      return v.is_int64() || v.is_uint64() ||
             (v.is_double() &&
              v.as_double() == static_cast<double>(static_cast<long long>(v.as_double())));
    }
    if (t == "number") return v.is_number();
    return false;
  }

  std::string check(const boost::json::value& s, const boost::json::value& v,
                    const std::string& at) const {
    if (s.is_bool()) return s.as_bool() ? "" : at + ": not allowed";
    const auto& o = s.as_object();
    if (const auto* ref = o.if_contains("$ref")) {
      std::string r(ref->as_string());
      const std::string prefix = "#/$defs/";
      if (r.rfind(prefix, 0) != 0) return at + ": unsupported $ref " + r;
      const auto& target = root_.at("$defs").at(r.substr(prefix.size()));
      if (auto e = check(target, v, at); !e.empty()) return e;
    }
    if (const auto* t = o.if_contains("type")) {
      bool ok = false;
      if (t->is_string()) {
        ok = has_type(v, t->as_string());
      } else {
        for (const auto& x : t->as_array()) ok = ok || has_type(v, x.as_string());
      }
      if (!ok) return at + ": expected type " + boost::json::serialize(*t);
    }
    if (const auto* e = o.if_contains("enum")) {
      bool ok = false;
      for (const auto& x : e->as_array()) ok = ok || x == v;
      if (!ok) return at + ": not one of " + boost::json::serialize(*e);
    }
    if (const auto* c = o.if_contains("const"); c && !(*c == v)) {
      return at + ": expected " + boost::json::serialize(*c);
    }
    if (v.is_string()) {
      if (const auto* m = o.if_contains("minLength");
          m && v.as_string().size() < m->to_number<std::size_t>()) {
        return at + ": too short";
      }
      if (const auto* p = o.if_contains("pattern")) {
        if (!std::regex_search(std::string(v.as_string()),
                               std::regex(std::string(p->as_string())))) {
          return at + ": does not match " + std::string(p->as_string());
        }
      }
    }
    if (v.is_number()) {
      if (const auto* m = o.if_contains("minimum");
          m && v.to_number<double>() < m->to_number<double>()) {
        return at + ": below the minimum";
      }
    }
    if (const auto* any = o.if_contains("anyOf")) {
      std::string first;
      bool ok = false;
      for (const auto& alt : any->as_array()) {
        auto e = check(alt, v, at);
        if (e.empty())
          ok = true;
        else if (first.empty())
          first = e;
      }
      if (!ok) return first;
    }
    if (const auto* one = o.if_contains("oneOf")) {
      int n = 0;
      std::string first;
      for (const auto& alt : one->as_array()) {
        auto e = check(alt, v, at);
        if (e.empty())
          ++n;
        else if (first.empty())
          first = e;
      }
      if (n != 1) return n == 0 ? first : at + ": matches more than one of oneOf";
    }
    if (v.is_object()) {
      const auto& obj = v.as_object();
      if (const auto* req = o.if_contains("required")) {
        for (const auto& k : req->as_array()) {
          if (!obj.contains(k.as_string()))
            return at + "." + std::string(k.as_string()) + ": missing";
        }
      }
      const auto* props = o.if_contains("properties");
      const auto* extra = o.if_contains("additionalProperties");
      for (const auto& [k, x] : obj) {
        std::string kat = at + "." + std::string(k);
        const boost::json::value* ps = props ? props->as_object().if_contains(k) : nullptr;
        if (ps) {
          if (auto e = check(*ps, x, kat); !e.empty()) return e;
        } else if (extra) {
          if (auto e = check(*extra, x, kat); !e.empty()) return e;
        }
      }
    }
    if (v.is_array()) {
      if (const auto* items = o.if_contains("items")) {
        std::size_t i = 0;
        for (const auto& x : v.as_array()) {
          if (auto e = check(*items, x, at + "[" + std::to_string(i++) + "]"); !e.empty()) return e;
        }
      }
    }
    return "";
  }

  boost::json::value root_;
};

}  // namespace immp::test
