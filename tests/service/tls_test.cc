// TLS and mutual TLS with certificates made for the test by the openssl tool:
// a CA, a server certificate for localhost / 127.0.0.1, a client certificate,
// and an unrelated CA whose certificates must be refused.
#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service_test_util.h"

namespace spoofd::testing {
namespace {

using ServingStatus = grpc::health::v1::HealthCheckResponse;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string d = dir_->path().string();
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto run = [](const std::string& command) {
      const int rc = std::system((command + " >/dev/null 2>&1").c_str());
      ASSERT_EQ(rc, 0) << command;
    };
    for (const std::string ca : {"ca", "other_ca"}) {
      run("openssl req -x509 " + key + " -keyout " + d + "/" + ca + ".key -out " + d + "/" + ca +
          ".pem -days 2 -subj /CN=spoofd-test-" + ca);
    }
    WriteBytes(*dir_ / "server.ext",
               "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
               "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
    WriteBytes(
        *dir_ / "client.ext",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n");
    // name, signing CA, extensions
    for (const auto& [name, ca, ext] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"server", "ca", "server"},
             {"client", "ca", "client"},
             {"stranger", "other_ca", "client"}}) {
      run("openssl req " + key + " -keyout " + d + "/" + name + ".key -out " + d + "/" + name +
          ".csr -subj /CN=" + name);
      run("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/" + ca + ".pem -CAkey " +
          d + "/" + ca + ".key -CAcreateserial -out " + d + "/" + name + ".pem -days 2 -extfile " +
          d + "/" + ext + ".ext");
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::string File(const std::string& name) { return (*dir_ / name).string(); }

  static service::ServerOptions TlsOptions(bool mutual) {
    service::ServerOptions o = TestOptions();
    o.tls.cert_file = File("server.pem");
    o.tls.key_file = File("server.key");
    if (mutual) o.tls.client_ca_file = File("ca.pem");
    return o;
  }

  static client::ClientOptions ClientWith(const std::string& ca, const std::string& cert = "") {
    client::ClientOptions c;
    c.timeout_s = 10;
    c.ca_file = ca.empty() ? "" : File(ca + ".pem");
    if (!cert.empty()) {
      c.cert_file = File(cert + ".pem");
      c.key_file = File(cert + ".key");
    }
    return c;
  }

  static TempDir* dir_;
};
TempDir* TlsTest::dir_ = nullptr;

absl::StatusCode InfoCode(client::Client& c) { return c.GetModelInfo().status().code(); }

TEST_F(TlsTest, ServerTlsAcceptsClientsThatVerifyIt) {
  auto server = TestServer::Start(TlsOptions(/*mutual=*/false));
  ASSERT_NE(server, nullptr);
  auto verified = server->Client(ClientWith("ca"));
  EXPECT_EQ(InfoCode(*verified), absl::StatusCode::kOk);
  EXPECT_EQ(*verified->CheckHealth(), ServingStatus::SERVING);
  v1::ScoreRequest request;
  const auto bytes = ReadBytes(Fixture("speech.mp3"));
  request.set_audio(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  EXPECT_TRUE(verified->Score(request).ok());
  // The certificate names localhost too.
  client::ClientOptions by_name = ClientWith("ca");
  by_name.target = "localhost:" + std::to_string(server->server->port());
  auto named = client::Client::Create(by_name);
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(InfoCode(**named), absl::StatusCode::kOk);

  EXPECT_EQ(InfoCode(*server->Client(ClientWith(""))),
            absl::StatusCode::kUnavailable);  // plaintext
  EXPECT_EQ(InfoCode(*server->Client(ClientWith("other_ca"))),
            absl::StatusCode::kUnavailable);  // wrong CA
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  auto server = TestServer::Start(TlsOptions(/*mutual=*/true));
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(InfoCode(*server->Client(ClientWith("ca", "client"))), absl::StatusCode::kOk);
  EXPECT_EQ(InfoCode(*server->Client(ClientWith("ca"))),
            absl::StatusCode::kUnavailable);  // no certificate
  EXPECT_EQ(InfoCode(*server->Client(ClientWith("ca", "stranger"))),
            absl::StatusCode::kUnavailable);
}

TEST_F(TlsTest, TlsWithBearerTokens) {
  service::ServerOptions o = TlsOptions(/*mutual=*/true);
  WriteBytes(*dir_ / "tokens", "tls-token-0123456789\n");
  o.auth_token_file = File("tokens");
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  client::ClientOptions c = ClientWith("ca", "client");
  EXPECT_EQ(InfoCode(*server->Client(c)), absl::StatusCode::kUnauthenticated);
  c.token = "tls-token-0123456789";
  EXPECT_EQ(InfoCode(*server->Client(c)), absl::StatusCode::kOk);
}

TEST_F(TlsTest, BadPemFilesAreRefused) {
  service::ServerOptions o = TlsOptions(false);
  o.tls.cert_file = File("server.ext");  // not PEM
  EXPECT_EQ(service::Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spoofd::testing
