#include "operators/json_node.hpp"

#include <boost/json.hpp>

namespace immp::operators {

namespace json = boost::json;

json::value node_to_json(const Node& node) {
  switch (node.kind()) {
    case Node::Kind::null:
      return nullptr;
    case Node::Kind::boolean:
      return node.as_bool();
    case Node::Kind::integer:
      return node.as_int();
    case Node::Kind::real:
      return node.as_double();
    case Node::Kind::string:
      return json::string(node.as_string());
    case Node::Kind::list: {
      json::array out;
      for (const auto& item : node.as_list()) out.push_back(node_to_json(item));
      return out;
    }
    case Node::Kind::map: {
      json::object out;
      for (const auto& [k, v] : node.as_map()) out[k] = node_to_json(v);
      return out;
    }
  }
  return nullptr;
}

Node json_to_node(const json::value& value, const std::string& path) {
  Node out;
  switch (value.kind()) {
    case json::kind::null:
      break;
    case json::kind::bool_:
      out = Node(value.get_bool());
      break;
    case json::kind::int64:
      out = Node(value.get_int64());
      break;
    case json::kind::uint64:
      out = Node(static_cast<std::int64_t>(value.get_uint64()));
      break;
    case json::kind::double_:
      out = Node(value.get_double());
      break;
    case json::kind::string:
      out = Node(std::string(value.get_string()));
      break;
    case json::kind::array: {
      out = Node::list();
      for (const auto& item : value.get_array()) out.as_list().push_back(json_to_node(item, ""));
      break;
    }
    case json::kind::object: {
      out = Node::map();
      for (const auto& [k, v] : value.get_object()) out.set(k, json_to_node(v, ""));
      break;
    }
  }
  out.set_path(path);
  out.repath();
  return out;
}

}  // namespace immp::operators
