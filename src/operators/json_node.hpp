// Config nodes as JSON and back: an operator's config block travels in
// frames (`welcome`, `config`, `reload`).
#pragma once

#include <string>

#include <boost/json/value.hpp>

#include "immp/config.hpp"

namespace immp::operators {

boost::json::value node_to_json(const Node& node);
// `path` becomes the nodes' key path (for errors in later validation).
Node json_to_node(const boost::json::value& value, const std::string& path);

}  // namespace immp::operators
