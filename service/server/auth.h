// Bearer-token authentication. Clients send the metadata
//   authorization: Bearer <token>
// and the server compares the token's SHA-256 digest with each accepted
// token's digest in constant time (CRYPTO_memcmp over fixed-length digests, so
// neither the content nor the length of a token leaks through timing).
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace spoofd::service {

class TokenAuthenticator {
 public:
  // The file holds one token per line (several allow rotation); blank lines
  // and lines starting with '#' are skipped, surrounding whitespace trimmed.
  // kNotFound / kPermissionDenied when unreadable, kInvalidArgument when it
  // holds no token or a token shorter than 16 characters.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromFile(
      const std::filesystem::path& path);
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromTokens(
      const std::vector<std::string>& tokens);

  // `authorization` is the metadata value (empty when absent). OkStatus or
  // kUnauthenticated with a message saying what to send.
  absl::Status Check(std::string_view authorization) const;

 private:
  TokenAuthenticator() = default;
  std::vector<std::array<unsigned char, 32>> digests_;
};

}  // namespace spoofd::service
