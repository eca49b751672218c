// The one place where absl::Status becomes grpc::Status. absl's codes are the
// gRPC codes (same names, same numbers), so the mapping is one to one; the
// message is passed through unchanged (every producer writes one line a
// person can act on).
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace spoofd::service {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace spoofd::service
