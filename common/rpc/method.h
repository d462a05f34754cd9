// Looks up RPC methods in the IDL (proto/meshsim.proto) by their wire name
// "Service.Method", so servers and clients agree with the IDL on types and
// on which methods are safe to retry.
#pragma once

#include <string_view>

#include "google/protobuf/descriptor.h"
#include "proto/meshsim.pb.h"

namespace meshsim::rpc {

// The method named "Service.Method" in package meshsim.v1, or nullptr.
const google::protobuf::MethodDescriptor* FindMethod(std::string_view wire_name);

// True when the IDL marks the method `option (idempotent) = true`.
bool IsIdempotent(const google::protobuf::MethodDescriptor& method);

// Who may call the method when the cluster has keys: `option (caller)`.
v1::CallerRole CallerOf(const google::protobuf::MethodDescriptor& method);

}  // namespace meshsim::rpc
