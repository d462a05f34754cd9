#include "common/rpc/method.h"

#include <string>

#include "proto/meshsim.pb.h"

namespace meshsim::rpc {

const google::protobuf::MethodDescriptor* FindMethod(std::string_view wire_name) {
  // Touch a generated type so the IDL's descriptors are in the pool.
  (void)v1::Scenario::descriptor();
  const std::string full_name = "meshsim.v1." + std::string(wire_name);
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
}

bool IsIdempotent(const google::protobuf::MethodDescriptor& method) {
  return method.options().GetExtension(v1::idempotent);
}

v1::CallerRole CallerOf(const google::protobuf::MethodDescriptor& method) {
  return method.options().GetExtension(v1::caller);
}

}  // namespace meshsim::rpc
