#include "service/server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace spoofd::service {
namespace {

std::array<unsigned char, 32> Digest(absl::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

constexpr size_t kMinTokenLength = 16;

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::FromTokens(
    const std::vector<std::string>& tokens) {
  auto auth = std::unique_ptr<TokenAuthenticator>(new TokenAuthenticator());
  for (const std::string& token : tokens) {
    if (token.size() < kMinTokenLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("auth tokens must be at least ", kMinTokenLength, " characters long"));
    }
    auth->digests_.push_back(Digest(token));
  }
  if (auth->digests_.empty()) return absl::InvalidArgumentError("no auth token given");
  return auth;
}

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::FromFile(
    const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    if (err == EACCES)
      return absl::PermissionDeniedError(absl::StrCat("cannot read token file ", path.string()));
    return absl::NotFoundError(
        absl::StrCat("cannot open token file ", path.string(), ": ", std::strerror(err)));
  }
  std::stringstream text;
  text << in.rdbuf();
  std::vector<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    tokens.emplace_back(line);
  }
  absl::StatusOr<std::unique_ptr<TokenAuthenticator>> auth = FromTokens(tokens);
  if (!auth.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path.string(), ": ", auth.status().message()));
  }
  return auth;
}

absl::Status TokenAuthenticator::Check(std::string_view header) const {
  const absl::string_view authorization(header.data(), header.size());
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "this server requires a bearer token: send 'authorization: Bearer <token>' metadata");
  }
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !absl::StartsWithIgnoreCase(authorization, kScheme)) {
    return absl::UnauthenticatedError("the authorization metadata must be 'Bearer <token>'");
  }
  const auto digest = Digest(absl::StripAsciiWhitespace(authorization.substr(kScheme.size())));
  bool match = false;
  for (const auto& accepted : digests_) {
    // Every digest is compared, whether or not an earlier one matched.
    match |= CRYPTO_memcmp(digest.data(), accepted.data(), digest.size()) == 0;
  }
  if (!match) return absl::UnauthenticatedError("the bearer token is not accepted by this server");
  return absl::OkStatus();
}

}  // namespace spoofd::service
