#include "graph/graph.h"

#include <stdexcept>

namespace vkllm {

int Graph::weight(std::string name, GGMLType type, const rt::Buffer& buffer) {
  tensors_.push_back({std::move(name), TensorKind::Weight, type, buffer.size(), buffer});
  return static_cast<int>(tensors_.size() - 1);
}

int Graph::external(std::string name, uint64_t bytes, rt::BufferRange range) {
  tensors_.push_back({std::move(name), TensorKind::External, GGMLType::F32, bytes, range});
  return static_cast<int>(tensors_.size() - 1);
}

int Graph::activation(std::string name, uint64_t bytes) {
  tensors_.push_back({std::move(name), TensorKind::Activation, GGMLType::F32, bytes, {}});
  return static_cast<int>(tensors_.size() - 1);
}

int Graph::add(std::string name, OpParams op, std::vector<int> src, int dst,
               std::vector<int> extra_dst) {
  const int n = static_cast<int>(tensors_.size());
  for (int s : src)
    if (s < 0 || s >= n) throw std::logic_error("graph node '" + name + "' reads a bad tensor id");
  if (dst < 0 || dst >= n)
    throw std::logic_error("graph node '" + name + "' writes a bad tensor id");
  for (int d : extra_dst)
    if (d < 0 || d >= n) throw std::logic_error("graph node '" + name + "' writes a bad tensor id");
  nodes_.push_back({std::move(name), op, std::move(src), dst, std::move(extra_dst)});
  return dst;
}

std::vector<int> Node::outputs() const {
  std::vector<int> out{dst};
  out.insert(out.end(), extra_dst.begin(), extra_dst.end());
  return out;
}

}  // namespace vkllm
