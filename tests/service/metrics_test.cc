// The building blocks of the server — metrics, the Prometheus endpoint, the
// worker pool, the dynamic batcher, bearer tokens — and a scrape of a live
// server's /metrics.
#include "service/server/metrics.h"

#include <atomic>
#include <future>
#include <thread>

#include "dsp/test_signals.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/server/auth.h"
#include "service/server/batcher.h"
#include "service/server/worker_pool.h"
#include "service_test_util.h"

// After Eigen (through the headers above): glibc's <resolv.h>, which httplib
// includes, defines a macro `_res` that breaks Eigen's parameter names.
#include <httplib.h>

namespace spoofd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, TextExposition) {
  service::CounterFamily counter("x_total", "Things.", {"method", "code"});
  counter.Inc({"Score", "OK"});
  counter.Inc({"Score", "OK"}, 2);
  counter.Inc({"a\"b\\c\nd", "E"});
  service::HistogramFamily histogram("y_seconds", "Latency.", {}, {0.1, 1.0});
  histogram.Observe({}, 0.05);
  histogram.Observe({}, 0.5);
  histogram.Observe({}, 5.0);
  std::string text;
  counter.Render(&text);
  histogram.Render(&text);
  EXPECT_THAT(text, HasSubstr("# HELP x_total Things.\n# TYPE x_total counter\n"));
  EXPECT_THAT(text, HasSubstr("x_total{method=\"Score\",code=\"OK\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("x_total{method=\"a\\\"b\\\\c\\nd\",code=\"E\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE y_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("y_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("y_seconds_bucket{le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("y_seconds_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("y_seconds_sum 5.55\n"));
  EXPECT_THAT(text, HasSubstr("y_seconds_count 3\n"));
  EXPECT_EQ(counter.Value({"Score", "OK"}), 3.0);
  EXPECT_EQ(histogram.Count({}), 3u);
}

TEST(WorkerPoolTest, QueueIsBounded) {
  service::WorkerPool pool(1, 1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.TrySubmit([&] {
    released.wait();
    ++ran;
  }));
  // Wait until the only thread took the first task.
  for (int i = 0; i < 200 && pool.queued() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));   // waits in the queue
  EXPECT_FALSE(pool.TrySubmit([&] { ++ran; }));  // over the bound
  pool.Submit([&] { ++ran; });                   // streams' tasks are always taken
  release.set_value();
  for (int i = 0; i < 200 && ran < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(ran, 3);
}

TEST(BatcherTest, ConcurrentCallsShareForwardPassesWithTheSameResults) {
  auto model = models::Model::Load(TinyModel());
  ASSERT_TRUE(model.ok());
  service::Metrics metrics;
  service::BatcherOptions options;
  options.max_batch_size = 8;
  options.max_queue_delay_us = 200000;
  service::DynamicBatcher batcher(options, &metrics);
  const std::int64_t frames = 200, dims = 20;
  // Six callers with 1..3 segments each, two of them with another shape.
  std::vector<std::vector<float>> inputs;
  std::vector<std::int64_t> counts = {1, 2, 3, 1, 2, 2};
  std::vector<std::int64_t> frame_counts = {frames, frames, frames, frames, 150, 150};
  for (size_t i = 0; i < counts.size(); ++i) {
    inputs.push_back(
        Babble(static_cast<int>(counts[i] * frame_counts[i] * dims), static_cast<unsigned>(i)));
  }
  std::vector<std::future<absl::StatusOr<std::vector<float>>>> calls;
  for (size_t i = 0; i < counts.size(); ++i) {
    calls.push_back(std::async(std::launch::async, [&, i] {
      return batcher.Forward(*model, inputs[i].data(), counts[i], frame_counts[i], dims);
    }));
  }
  for (size_t i = 0; i < counts.size(); ++i) {
    auto got = calls[i].get();
    ASSERT_TRUE(got.ok()) << got.status();
    auto want = (*model)->Forward(inputs[i].data(), counts[i], frame_counts[i], dims);
    ASSERT_TRUE(want.ok());
    ASSERT_EQ(got->size(), want->size());
    for (size_t k = 0; k < got->size(); ++k) EXPECT_NEAR((*got)[k], (*want)[k], 1e-4);
  }
  EXPECT_EQ(metrics.batch_size.Sum({}), 11.0);
  EXPECT_LE(metrics.batch_size.Count({}),
            3u);  // 7 segments of one shape fit one batch of 8, 4 of the other
  EXPECT_EQ(batcher.queued_segments(), 0);
  // Errors of the model reach the caller.
  EXPECT_EQ(batcher.Forward(*model, inputs[0].data(), 1, frames, 19).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AuthTest, BearerTokens) {
  EXPECT_FALSE(service::TokenAuthenticator::FromTokens({}).ok());
  EXPECT_FALSE(service::TokenAuthenticator::FromTokens({"short"}).ok());
  auto auth =
      service::TokenAuthenticator::FromTokens({"0123456789abcdef-one", "0123456789abcdef-two"});
  ASSERT_TRUE(auth.ok());
  EXPECT_TRUE((*auth)->Check("Bearer 0123456789abcdef-one").ok());
  EXPECT_TRUE((*auth)->Check("bearer 0123456789abcdef-two").ok());
  for (const char* bad :
       {"", "Bearer", "Bearer ", "Basic 0123456789abcdef-one", "0123456789abcdef-one",
        "Bearer 0123456789abcdef-on", "Bearer 0123456789abcdef-one-and-more"}) {
    EXPECT_EQ((*auth)->Check(bad).code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

TEST(MetricsEndpointTest, ScrapeALiveServer) {
  auto server = TestServer::Start(TestOptions());
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  v1::ScoreRequest request;
  const auto bytes = ReadBytes(Sample());
  request.set_audio(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  ASSERT_TRUE(client->Score(request).ok());
  request.set_audio("not audio");
  ASSERT_FALSE(client->Score(request).ok());
  ASSERT_TRUE(client->GetModelInfo().ok());

  httplib::Client http("127.0.0.1", server->server->metrics_port());
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res) << "no answer from the metrics port";
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  const std::string& text = res->body;
  for (const char* line : {
           "spoofd_requests_total{method=\"Score\",code=\"OK\"} 1\n",
           "spoofd_requests_total{method=\"Score\",code=\"INVALID_ARGUMENT\"} 1\n",
           "spoofd_requests_total{method=\"GetModelInfo\",code=\"OK\"} 1\n",
           "spoofd_request_duration_seconds_count{method=\"Score\"} 1\n",
           "spoofd_stage_duration_seconds_count{stage=\"decode\"} 2\n",
           "spoofd_stage_duration_seconds_count{stage=\"features\"} 1\n",
           "spoofd_stage_duration_seconds_count{stage=\"model\"} 1\n",
           "spoofd_stage_duration_seconds_count{stage=\"queue\"} 2\n",
           "spoofd_stage_duration_seconds_count{stage=\"forward\"} 1\n",
           "spoofd_audio_seconds_total{method=\"Score\"} 7.1\n",
           "spoofd_decisions_total{method=\"Score\",decision=\"genuine\"} 1\n",
           "spoofd_batch_size_sum 7\n",
           "spoofd_queue_depth 0\n",
           "spoofd_batch_queue_segments 0\n",
           "spoofd_active_streams 0\n",
           "spoofd_ready 1\n",
           "spoofd_model_reloads_total{result=\"ok\"} 1\n",
           "spoofd_model_info{name=\"tiny-test-model\",version=\"0.0.1-test\",sha256=\"",
           "spoofd_build_info{version=\"",
       }) {
    EXPECT_THAT(text, HasSubstr(line));
  }
  EXPECT_THAT(text, Not(HasSubstr("nan")));
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  server->server->Shutdown(std::chrono::milliseconds(100));
  EXPECT_FALSE(http.Get("/metrics"));  // the endpoint stops with the server
}

TEST(MetricsEndpointTest, HealthzIsUnavailableBeforeTheModel) {
  auto server = TestServer::Start(TestOptions(), /*load_model=*/false);
  ASSERT_NE(server, nullptr);
  httplib::Client http("127.0.0.1", server->server->metrics_port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("spoofd_ready 0\n"));
}

}  // namespace
}  // namespace spoofd::testing
