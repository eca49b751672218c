// spoofd-load — drives running spoofd servers with live calls and/or uploads
// for a bounded time and reports throughput, interim-result latency, errors
// and the server's memory.
//
//   spoofd-load --server 127.0.0.1:50051 --calls 300 --duration-s 300 --server-pid $(pidof spoofd)
//   spoofd-load --server A --server B --uploads 4 --upload-file call.mp3 --duration-s 60
//
// Live calls: each call streams 8 kHz mu-law in --packet-ms packets (20 ms) at
// real-time pace over StreamScore, --call-length-s long, then half-closes and
// waits for the final result; a new call replaces it so that --calls stay in
// progress until --duration-s is over (calls in progress then finish their
// audio). Calls start spread over the first --ramp-s seconds.
//
// Interim latency: from the moment the packet that completed the interim's
// audio was due (its last sample "spoken") to the arrival of the interim. The
// packet is found exactly: the tool runs the server's own incremental decoder
// over the same packets, so it knows after which packet the decoded audio
// reached the interim's audio_received_s. Pacing delays on the client count
// against the latency (never in its favour).
//
// With --reconnect, a call that fails with UNAVAILABLE (its server went away
// or closed the connection for good) starts again on the next channel, first
// resending the audio sent so far as fast as the server takes it, then going
// on at real-time pace: the final result covers the whole call. Interims of
// the resent part are not counted in the latency.
//
// Exit code: 0 when no call or upload failed, 1 otherwise, 2 usage errors.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dsp/decode.h"
#include "nlohmann/json.hpp"
#include "spoofd/v1/detector.grpc.pb.h"

namespace spoofd::load {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

struct Options {
  std::vector<std::string> servers;
  int channels_per_server = 4;
  std::string lb_policy;  // e.g. round_robin for dns:/// targets
  int calls = 0;
  double call_length_s = 60;
  double duration_s = 10;
  double ramp_s = 1;
  int packet_ms = 20;
  double interim_interval_s = 1;
  std::vector<std::string> audio_files;
  int uploads = 0;
  std::string upload_file;
  bool reconnect = false;
  int server_pid = 0;
  std::string token_file;
  std::string json_out;
  double timeout_s = 0;  // extra time after the audio for a call's final result; 0: 60 s
};

std::string CodeName(const grpc::Status& status) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
}

// ---------------------------------------------------------------------------
// Audio

// ITU-T G.711 mu-law encoding of one linear sample (16-bit range).
std::uint8_t MulawEncode(float x) {
  constexpr int kBias = 0x84, kClip = 32635;
  int sample = static_cast<int>(std::lrint(std::clamp(x, -1.0f, 1.0f) * 32767.0f));
  const int sign = sample < 0 ? 0x80 : 0;
  if (sample < 0) sample = -sample;
  sample = std::min(sample, kClip) + kBias;
  int exponent = 7;
  for (int mask = 0x4000; (sample & mask) == 0 && exponent > 0; mask >>= 1) --exponent;
  const int mantissa = (sample >> (exponent + 3)) & 0x0F;
  return static_cast<std::uint8_t>(~(sign | (exponent << 4) | mantissa));
}

struct CallAudio {
  std::vector<std::uint8_t> mulaw;  // 8 kHz, call_length_s long
  std::size_t packet_bytes = 160;
  std::size_t packets = 0;
  // Server-side decoded samples (16 kHz) after each packet, from the same
  // decoder the server runs; used to find which packet completed an interim.
  std::vector<std::int64_t> decoded_after;

  std::span<const std::uint8_t> Packet(std::size_t k) const {
    const std::size_t begin = k * packet_bytes;
    return std::span<const std::uint8_t>(mulaw).subspan(
        begin, std::min(packet_bytes, mulaw.size() - begin));
  }
  // First packet after which the server has decoded at least audio_s seconds.
  std::size_t PacketFor(double audio_s) const {
    const auto samples = static_cast<std::int64_t>(std::llround(audio_s * 16000.0));
    auto it = std::lower_bound(decoded_after.begin(), decoded_after.end(), samples);
    return it == decoded_after.end() ? packets - 1
                                     : static_cast<std::size_t>(it - decoded_after.begin());
  }
};

absl::StatusOr<CallAudio> MakeCallAudio(const Options& o) {
  std::vector<float> speech;  // 8 kHz
  decode::DecodeOptions decode_options;
  decode_options.target_sample_rate_hz = 8000;
  for (const std::string& file : o.audio_files) {
    absl::StatusOr<decode::DecodedAudio> audio = decode::DecodeFile(file, decode_options);
    if (!audio.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", audio.status().message()));
    }
    speech.insert(speech.end(), audio->samples.begin(), audio->samples.end());
  }
  if (speech.empty()) return absl::InvalidArgumentError("no audio to stream (--audio)");
  CallAudio call;
  const auto total = static_cast<std::size_t>(o.call_length_s * 8000);
  call.mulaw.resize(total);
  for (std::size_t i = 0; i < total; ++i) call.mulaw[i] = MulawEncode(speech[i % speech.size()]);
  call.packet_bytes = static_cast<std::size_t>(8 * o.packet_ms);
  call.packets = (total + call.packet_bytes - 1) / call.packet_bytes;
  absl::StatusOr<std::unique_ptr<decode::RawStreamDecoder>> decoder =
      decode::RawStreamDecoder::Create({decode::RawEncoding::kMulaw, 8000});
  if (!decoder.ok()) return decoder.status();
  std::vector<float> out;
  for (std::size_t k = 0; k < call.packets; ++k) {
    if (absl::Status s = (*decoder)->Feed(call.Packet(k), &out); !s.ok()) return s;
    call.decoded_after.push_back((*decoder)->samples_out());
    out.clear();
  }
  return call;
}

// ---------------------------------------------------------------------------
// Statistics

class Stats {
 public:
  void Latency(double ms) {
    std::lock_guard lock(mu_);
    latencies_ms_.push_back(ms);
  }
  void UploadLatency(double ms, double audio_s) {
    std::lock_guard lock(mu_);
    upload_ms_.push_back(ms);
    upload_audio_s_ += audio_s;
  }
  void Error(const std::string& what) {
    std::lock_guard lock(mu_);
    ++errors_[what];
  }
  std::atomic<std::int64_t> calls_started{0}, calls_completed{0}, calls_failed{0}, reconnects{0};
  std::atomic<std::int64_t> interims{0}, finals{0}, packets_sent{0}, uploads_completed{0},
      uploads_failed{0};
  std::atomic<std::int64_t> audio_packets_ms{0};  // audio streamed, in ms

  Json Report(double wall_s) {
    std::lock_guard lock(mu_);
    Json j;
    j["calls_started"] = calls_started.load();
    j["calls_completed"] = calls_completed.load();
    j["calls_failed"] = calls_failed.load();
    j["reconnects"] = reconnects.load();
    j["interims"] = interims.load();
    j["interims_per_s"] = interims.load() / wall_s;
    j["packets_sent"] = packets_sent.load();
    j["audio_streamed_s"] = audio_packets_ms.load() / 1000.0;
    j["interim_latency_ms"] = Percentiles(latencies_ms_);
    j["uploads_completed"] = uploads_completed.load();
    j["uploads_failed"] = uploads_failed.load();
    j["upload_audio_s"] = upload_audio_s_;
    j["upload_x_realtime"] = upload_audio_s_ / wall_s;
    j["upload_latency_ms"] = Percentiles(upload_ms_);
    Json errors = Json::object();
    for (const auto& [what, n] : errors_) errors[what] = n;
    j["errors"] = errors;
    return j;
  }

 private:
  static Json Percentiles(std::vector<double> v) {
    Json j;
    j["count"] = v.size();
    if (v.empty()) return j;
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
      return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
    };
    j["p50"] = at(0.50);
    j["p95"] = at(0.95);
    j["p99"] = at(0.99);
    j["max"] = v.back();
    return j;
  }

  std::mutex mu_;
  std::vector<double> latencies_ms_, upload_ms_;
  double upload_audio_s_ = 0;
  std::map<std::string, std::int64_t> errors_;
};

// ---------------------------------------------------------------------------
// Channels

class Channels {
 public:
  Channels(const Options& o) {
    for (const std::string& target : o.servers) {
      for (int i = 0; i < o.channels_per_server; ++i) {
        grpc::ChannelArguments args;
        args.SetMaxReceiveMessageSize(-1);
        // A distinct argument per channel gives each its own TCP connection,
        // as separate client machines would have.
        args.SetInt("spoofd.load.channel", i);
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        if (!o.lb_policy.empty()) args.SetLoadBalancingPolicyName(o.lb_policy);
        auto channel =
            grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
        stubs_.push_back(v1::Detector::NewStub(channel));
        channels_.push_back(std::move(channel));
      }
    }
  }
  v1::Detector::Stub* Next() { return stubs_[next_.fetch_add(1) % stubs_.size()].get(); }

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::Detector::Stub>> stubs_;
  std::atomic<std::size_t> next_{0};
};

// ---------------------------------------------------------------------------
// Live calls

class Driver;

// One StreamScore call. Packets go out when they are due (the pacer thread
// kicks idle calls; a finished write sends the next packet at once if it is
// already due, which is how a reconnected call catches up). The reactor owns
// itself and tells the driver when it is done.
class LiveCall final
    : public grpc::ClientBidiReactor<v1::StreamScoreRequest, v1::StreamScoreResponse> {
 public:
  LiveCall(Driver* driver, const CallAudio* audio, std::string call_id, Clock::time_point start,
           std::size_t live_from_packet, int attempt);
  void Begin(v1::Detector::Stub* stub, const Options& o);
  // From the pacer, under the driver's lock: sends the next packet if it is
  // due and no write is in flight. True when the call stops writing here: the
  // pacer then forgets it and, outside its lock, calls ReleaseHold().
  bool Kick(Clock::time_point now);
  void ReleaseHold() { RemoveHold(); }

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  Clock::time_point Due(std::size_t k) const {
    return start_ + std::chrono::microseconds(static_cast<std::int64_t>(k + 1) *
                                              static_cast<std::int64_t>(packet_us_));
  }
  // Under mu_: whether a write should start now; prepares it.
  bool PrepareWriteLocked(Clock::time_point now);
  void ReleaseHoldLocked(bool* release);

  Driver* const driver_;
  const CallAudio* const audio_;
  const std::string call_id_;
  const Clock::time_point start_;  // the call's audio starts here (packet k is due at start_+(k+1)*packet)
  const std::size_t live_from_packet_;  // earlier packets are a resend after a reconnect
  const int attempt_;
  double packet_us_ = 20000;
  grpc::ClientContext context_;
  v1::StreamScoreRequest request_;
  v1::StreamScoreResponse response_;

  std::mutex mu_;
  std::size_t next_packet_ = 0;
  // The config is the first write, counted in flight from construction: the
  // call is in the driver's set (and may be kicked by the pacer) before
  // Begin() has bound it to a stream, and a kick must not start a write then.
  bool write_in_flight_ = true;
  bool writes_done_ = false;
  bool stopped_ = false;  // no more writes (error or writes done)
  bool hold_released_ = false;
  bool got_final_ = false;
};

class Driver {
 public:
  Driver(const Options& o, const CallAudio* audio, Stats* stats, Channels* channels)
      : o_(o), audio_(audio), stats_(stats), channels_(channels) {}

  const Options& options() const { return o_; }
  Stats& stats() { return *stats_; }
  bool running() const { return Clock::now() < end_; }

  void Run() {
    start_ = Clock::now();
    end_ = start_ + ToDuration(o_.duration_s);
    std::thread pacer([this] { Pace(); });
    // Staggered starts over the ramp.
    for (int i = 0; i < o_.calls; ++i) {
      const auto at = start_ + ToDuration(o_.ramp_s * i / std::max(1, o_.calls));
      std::this_thread::sleep_until(at);
      StartCall(Clock::now(), 0, 1, NewCallId());
    }
    std::cerr << "spoofd-load: " << o_.calls << " calls started" << std::endl;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return live_ == 0 && !running(); });
      pacer_stop_ = true;
    }
    pacer.join();
  }

  // From a call's OnDone. ok: the call got its final result.
  void CallDone(LiveCall* call, const grpc::Status& status, bool got_final, const std::string& id,
                Clock::time_point call_start, std::size_t packets_sent, int attempt) {
    {
      std::lock_guard lock(mu_);
      active_.erase(call);
    }
    bool again = false, after_failure = false;
    if (status.ok() && got_final) {
      stats_->calls_completed++;
      again = running();
    } else if (o_.reconnect && status.error_code() == grpc::StatusCode::UNAVAILABLE &&
               attempt < 5) {
      // Continue the same call elsewhere: resend what was sent, then go on live.
      stats_->reconnects++;
      StartCall(call_start, packets_sent, attempt + 1, id);
    } else {
      stats_->calls_failed++;
      stats_->Error(absl::StrFormat("StreamScore %s: %s", CodeName(status),
                                    status.ok() ? "no final result" : status.error_message()));
      again = after_failure = running();
    }
    std::lock_guard lock(mu_);
    if (again && !after_failure) {
      ++live_;  // counted before this call's own slot is released below
      start_now_.push_back(NewCallId());
    } else if (again) {
      // A failed call's replacement waits a little: no hot loop against a
      // server that refuses everything.
      ++live_;
      start_later_.push_back(Clock::now() + std::chrono::milliseconds(200));
    }
    --live_;
    // Under the lock: Run() may return (and destroy this Driver) as soon as
    // it sees live_ == 0.
    cv_.notify_all();
  }

 private:
  static Clock::duration ToDuration(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }
  std::string NewCallId() { return absl::StrFormat("load-%d", next_id_.fetch_add(1)); }

  void StartCall(Clock::time_point start, std::size_t live_from, int attempt,
                 const std::string& id, bool counted = false) {
    auto* call = new LiveCall(this, audio_, id, start, live_from, attempt);
    if (attempt == 1) stats_->calls_started++;
    {
      std::lock_guard lock(mu_);
      if (!counted) ++live_;
      active_.insert(call);
    }
    call->Begin(channels_->Next(), o_);
  }

  // Removes a call from the pacer's set (before its hold is released, after
  // which it may be deleted at any time).
  void Forget(LiveCall* call) {
    std::lock_guard lock(mu_);
    active_.erase(call);
  }

  void Pace() {
    std::vector<LiveCall*> release;
    std::vector<std::string> start;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (pacer_stop_) return;
        const Clock::time_point now = Clock::now();
        for (LiveCall* call : active_) {
          if (call->Kick(now)) release.push_back(call);
        }
        for (LiveCall* call : release) active_.erase(call);
        // Replacement calls (already counted in live_); none once the time is up.
        if (!running()) {
          const auto dropped = static_cast<int>(start_now_.size() + start_later_.size());
          start_now_.clear();
          start_later_.clear();
          if (dropped > 0) {
            live_ -= dropped;
            cv_.notify_all();
          }
        } else {
          start.swap(start_now_);
          while (!start_later_.empty() && start_later_.front() <= now) {
            start_later_.erase(start_later_.begin());
            start.push_back(NewCallId());
          }
        }
      }
      // Outside the lock: OnDone (which takes it) may follow the release.
      for (LiveCall* call : release) call->ReleaseHold();
      release.clear();
      for (const std::string& id : start) StartCall(Clock::now(), 0, 1, id, /*counted=*/true);
      start.clear();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  friend class LiveCall;
  const Options& o_;
  const CallAudio* const audio_;
  Stats* const stats_;
  Channels* const channels_;
  Clock::time_point start_, end_;
  std::mutex mu_;  // guards active_, live_, pacer_stop_; Kick runs under it
  std::condition_variable cv_;
  std::set<LiveCall*> active_;
  std::vector<std::string> start_now_;            // replacements to start (counted in live_)
  std::vector<Clock::time_point> start_later_;    // replacements after a failure (counted)
  int live_ = 0;
  bool pacer_stop_ = false;
  std::atomic<int> next_id_{0};
};

LiveCall::LiveCall(Driver* driver, const CallAudio* audio, std::string call_id,
                   Clock::time_point start, std::size_t live_from_packet, int attempt)
    : driver_(driver),
      audio_(audio),
      call_id_(std::move(call_id)),
      start_(start),
      live_from_packet_(live_from_packet),
      attempt_(attempt) {}

void LiveCall::Begin(v1::Detector::Stub* stub, const Options& o) {
  packet_us_ = o.packet_ms * 1000.0;
  const double limit_s = o.call_length_s + (o.timeout_s > 0 ? o.timeout_s : 60.0);
  context_.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<std::int64_t>(limit_s * 1000)));
  if (!o.token_file.empty()) {
    std::ifstream in(o.token_file);
    std::string token;
    std::getline(in, token);
    context_.AddMetadata("authorization", "Bearer " + token);
  }
  stub->async()->StreamScore(&context_, this);
  v1::StreamConfig* config = request_.mutable_config();
  config->set_call_id(call_id_);
  config->set_encoding(v1::AUDIO_ENCODING_MULAW);
  config->set_sample_rate_hz(8000);
  config->set_interim_interval_s(o.interim_interval_s);
  AddHold();  // the pacer starts writes from outside reactions
  StartWrite(&request_);
  StartRead(&response_);
  StartCall();
}

bool LiveCall::PrepareWriteLocked(Clock::time_point now) {
  if (stopped_ || write_in_flight_ || next_packet_ >= audio_->packets) return false;
  if (Due(next_packet_) > now && next_packet_ >= live_from_packet_) return false;
  const std::span<const std::uint8_t> packet = audio_->Packet(next_packet_);
  request_.set_audio(reinterpret_cast<const char*>(packet.data()), packet.size());
  ++next_packet_;
  write_in_flight_ = true;
  return true;
}

void LiveCall::ReleaseHoldLocked(bool* release) {
  if (stopped_ && !write_in_flight_ && !hold_released_) {
    hold_released_ = true;
    *release = true;
  }
}

bool LiveCall::Kick(Clock::time_point now) {
  bool write = false, writes_done = false, release = false;
  {
    std::lock_guard lock(mu_);
    write = PrepareWriteLocked(now);
    if (!write && !stopped_ && !write_in_flight_ && next_packet_ >= audio_->packets) {
      writes_done = writes_done_ = stopped_ = true;
      ReleaseHoldLocked(&release);
    }
  }
  if (write) StartWrite(&request_);
  if (writes_done) StartWritesDone();
  return release;
}

void LiveCall::OnWriteDone(bool ok) {
  bool write = false, release = false;
  {
    std::lock_guard lock(mu_);
    write_in_flight_ = false;
    if (!ok) stopped_ = true;
    if (ok && next_packet_ > 0) {
      driver_->stats().packets_sent++;
      if (next_packet_ > live_from_packet_) driver_->stats().audio_packets_ms += driver_->options().packet_ms;
    }
    // Catch up at once when behind (a resend, or the pacer was late).
    if (ok) write = PrepareWriteLocked(Clock::now());
    ReleaseHoldLocked(&release);
  }
  if (write) StartWrite(&request_);
  if (release) {
    driver_->Forget(this);
    RemoveHold();
  }
}

void LiveCall::OnReadDone(bool ok) {
  const Clock::time_point now = Clock::now();
  if (!ok) {
    bool release = false;
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      ReleaseHoldLocked(&release);
    }
    if (release) {
      driver_->Forget(this);
      RemoveHold();
    }
    return;
  }
  if (response_.is_final()) {
    driver_->stats().finals++;
    std::lock_guard lock(mu_);
    got_final_ = true;
  } else {
    driver_->stats().interims++;
    const std::size_t k = audio_->PacketFor(response_.audio_received_s());
    if (k >= live_from_packet_) {
      driver_->stats().Latency(std::chrono::duration<double, std::milli>(now - Due(k)).count());
    }
  }
  StartRead(&response_);
}

void LiveCall::OnDone(const grpc::Status& status) {
  bool got_final;
  std::size_t sent;
  {
    std::lock_guard lock(mu_);
    got_final = got_final_;
    sent = next_packet_ > 0 ? next_packet_ - (write_in_flight_ ? 1 : 0) : 0;
  }
  driver_->CallDone(this, status, got_final, call_id_, start_, sent, attempt_);
  delete this;
}

// ---------------------------------------------------------------------------
// Uploads: each slot sends Score calls back to back.

class Uploader {
 public:
  Uploader(const Options& o, Stats* stats, Channels* channels, std::string bytes, double audio_s)
      : o_(o), stats_(stats), channels_(channels), bytes_(std::move(bytes)), audio_s_(audio_s) {}

  void Run() {
    end_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(o_.duration_s));
    std::vector<std::thread> slots;
    for (int i = 0; i < o_.uploads; ++i) {
      slots.emplace_back([this] {
        while (Clock::now() < end_) One();
      });
    }
    for (std::thread& t : slots) t.join();
  }

 private:
  void One() {
    grpc::ClientContext context;
    if (!o_.token_file.empty()) {
      std::ifstream in(o_.token_file);
      std::string token;
      std::getline(in, token);
      context.AddMetadata("authorization", "Bearer " + token);
    }
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
    v1::ScoreRequest request;
    request.set_audio(bytes_);
    request.mutable_format()->set_format_hint(o_.upload_file);
    v1::ScoreResponse response;
    const Clock::time_point t0 = Clock::now();
    const grpc::Status status = channels_->Next()->Score(&context, request, &response);
    if (status.ok()) {
      stats_->uploads_completed++;
      stats_->UploadLatency(std::chrono::duration<double, std::milli>(Clock::now() - t0).count(),
                            audio_s_);
    } else {
      stats_->uploads_failed++;
      stats_->Error(absl::StrFormat("Score %s: %s", CodeName(status),
                                    status.error_message()));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // no hot loop on a dead server
    }
  }

  const Options& o_;
  Stats* const stats_;
  Channels* const channels_;
  const std::string bytes_;
  const double audio_s_;
  Clock::time_point end_;
};

// ---------------------------------------------------------------------------
// Server memory and CPU from /proc

struct ProcSample {
  double rss_mb = 0;
  double cpu_s = 0;
};

std::optional<ProcSample> ReadProc(int pid) {
  ProcSample s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  if (!status) return std::nullopt;
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_mb = std::stod(line.substr(6)) / 1024.0;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  const std::size_t paren = text.rfind(')');
  if (paren != std::string::npos) {
    std::istringstream fields(text.substr(paren + 2));
    std::vector<std::string> f;
    std::string field;
    while (fields >> field) f.push_back(field);
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the state.
    if (f.size() > 12) {
      s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return s;
}

class ProcMonitor {
 public:
  explicit ProcMonitor(int pid) : pid_(pid) {
    if (pid_ <= 0) return;
    first_ = ReadProc(pid_);
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
        if (auto s = ReadProc(pid_)) {
          samples_.push_back(*s);
        }
      }
    });
  }
  Json Stop(double wall_s) {
    if (pid_ <= 0) return nullptr;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    Json j;
    j["pid"] = pid_;
    if (!first_ || samples_.empty()) {
      j["error"] = "cannot read /proc of the server";
      return j;
    }
    double max_rss = first_->rss_mb;
    for (const ProcSample& s : samples_) max_rss = std::max(max_rss, s.rss_mb);
    j["rss_mb_start"] = first_->rss_mb;
    j["rss_mb_max"] = max_rss;
    j["rss_mb_end"] = samples_.back().rss_mb;
    // The second half's growth: memory that keeps growing under steady load.
    const ProcSample& mid = samples_[samples_.size() / 2];
    j["rss_mb_growth_second_half"] = samples_.back().rss_mb - mid.rss_mb;
    j["cpu_cores"] = (samples_.back().cpu_s - first_->cpu_s) / wall_s;
    return j;
  }

 private:
  const int pid_;
  std::optional<ProcSample> first_;
  std::vector<ProcSample> samples_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

int Run(const Options& o) {
  if (o.servers.empty()) {
    std::cerr << "spoofd-load: give --server HOST:PORT\n";
    return 2;
  }
  if (o.calls == 0 && o.uploads == 0) {
    std::cerr << "spoofd-load: give --calls N and/or --uploads N\n";
    return 2;
  }
  absl::StatusOr<CallAudio> audio;
  if (o.calls > 0) {
    audio = MakeCallAudio(o);
    if (!audio.ok()) {
      std::cerr << "spoofd-load: " << audio.status().message() << "\n";
      return 2;
    }
  }
  std::string upload_bytes;
  double upload_audio_s = 0;
  if (o.uploads > 0) {
    std::ifstream in(o.upload_file, std::ios::binary);
    upload_bytes.assign(std::istreambuf_iterator<char>(in), {});
    absl::StatusOr<decode::DecodedAudio> decoded = decode::DecodeFile(o.upload_file);
    if (upload_bytes.empty() || !decoded.ok()) {
      std::cerr << "spoofd-load: cannot use --upload-file " << o.upload_file << "\n";
      return 2;
    }
    upload_audio_s = decoded->duration_s();
  }

  Stats stats;
  Channels channels(o);
  const std::string load_before = LoadAverage();
  rusage usage_before{};
  getrusage(RUSAGE_SELF, &usage_before);
  ProcMonitor monitor(o.server_pid);
  const Clock::time_point t0 = Clock::now();
  std::thread uploads;
  if (o.uploads > 0) {
    uploads = std::thread([&] { Uploader(o, &stats, &channels, upload_bytes, upload_audio_s).Run(); });
  }
  if (o.calls > 0) Driver(o, &*audio, &stats, &channels).Run();
  if (uploads.joinable()) uploads.join();
  const double wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  rusage usage_after{};
  getrusage(RUSAGE_SELF, &usage_after);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  const double self_cpu_s = seconds(usage_after.ru_utime) + seconds(usage_after.ru_stime) -
                            seconds(usage_before.ru_utime) - seconds(usage_before.ru_stime);

  Json report;
  report["servers"] = o.servers;
  report["calls"] = o.calls;
  report["call_length_s"] = o.call_length_s;
  report["packet_ms"] = o.packet_ms;
  report["uploads"] = o.uploads;
  report["duration_s"] = o.duration_s;
  report["wall_s"] = wall_s;
  report["load_average_before"] = load_before;
  report["load_average_after"] = LoadAverage();
  report["load_tool_cpu_cores"] = self_cpu_s / wall_s;
  Json results = stats.Report(wall_s);
  for (auto& [key, value] : results.items()) report[key] = value;
  report["server"] = monitor.Stop(wall_s);

  const std::string text = report.dump(2);
  std::cout << text << "\n";
  if (!o.json_out.empty()) std::ofstream(o.json_out) << text << "\n";
  const bool failed = stats.calls_failed.load() > 0 || stats.uploads_failed.load() > 0;
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace spoofd::load

int main(int argc, char** argv) {
  spoofd::load::Options o;
  CLI::App app{"spoofd-load: live calls and uploads against spoofd servers, with latency and memory"};
  app.add_option("--server", o.servers, "spoofd address HOST:PORT (repeatable; round robin)")
      ->required();
  app.add_option("--channels-per-server", o.channels_per_server,
                 "Connections per server (calls are spread over them)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--lb-policy", o.lb_policy, "gRPC load-balancing policy, e.g. round_robin");
  app.add_option("--calls", o.calls, "Concurrent live calls")->check(CLI::Range(0, 100000));
  app.add_option("--call-length-s", o.call_length_s, "Audio per call, seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 36000.0));
  app.add_option("--duration-s", o.duration_s, "Keep starting calls/uploads for this long")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--ramp-s", o.ramp_s, "Spread the first calls' starts over this long")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--packet-ms", o.packet_ms, "Audio per StreamScore message, ms")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--interim-interval-s", o.interim_interval_s, "Interim cadence asked for")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 60.0));
  app.add_option("--audio", o.audio_files,
                 "Speech to stream (any format; concatenated, looped, sent as 8 kHz mu-law); "
                 "default: samples/*.wav");
  app.add_option("--uploads", o.uploads, "Concurrent Score uploads (back to back)")
      ->check(CLI::Range(0, 10000));
  app.add_option("--upload-file", o.upload_file, "The recording each upload sends");
  app.add_flag("--reconnect", o.reconnect,
               "Continue a call on another connection after UNAVAILABLE (resends, then live)");
  app.add_option("--server-pid", o.server_pid, "Sample this process's RSS and CPU from /proc");
  app.add_option("--token-file", o.token_file, "Bearer token file");
  app.add_option("--json", o.json_out, "Also write the report to this file");
  app.add_option("--final-timeout-s", o.timeout_s,
                 "A call's deadline beyond its audio length (default 60)")
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (o.audio_files.empty()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("samples", ec)) {
      if (entry.path().extension() == ".wav") o.audio_files.push_back(entry.path().string());
    }
    std::sort(o.audio_files.begin(), o.audio_files.end());
  }
  if (o.uploads > 0 && o.upload_file.empty()) {
    std::cerr << "spoofd-load: --uploads needs --upload-file\n";
    return 2;
  }
  return spoofd::load::Run(o);
}
