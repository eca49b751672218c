// Feature configuration: the single description of how audio becomes a feature
// matrix. It travels inside every model file as JSON, so training and serving
// always compute the same thing.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace spoofd::dsp {

enum class FeatureKind {
  kLfcc,    // linear filterbank -> log -> DCT-II (ortho); torchaudio.transforms.LFCC
  kMfcc,    // mel (HTK) filterbank -> log -> DCT-II (ortho); torchaudio.transforms.MFCC
  kLogMel,  // log of mel filterbank energies; log(torchaudio.transforms.MelSpectrogram)
  kLogSpec,  // log power spectrum, n_fft/2+1 bins; log(torchaudio.transforms.Spectrogram)
  kCqcc      // constant-Q (geometrically spaced) filterbank -> log -> DCT-II (ortho): a
             // CQT-like cepstrum on one STFT; needs f_min_hz > 0
};

enum class WindowType { kHann, kHamming };  // both periodic, as torch.hann_window's default

// How filterbank energies (or power bins for logspec) are compressed.
enum class LogKind {
  kLn,  // ln(x + log_floor): torchaudio's log_lf=True / log_mels=True convention
  kDb   // 10 * log10(max(x, log_floor)): AmplitudeToDB("power", top_db=None) with amin=log_floor
};

// Per-utterance normalisation, applied by the consumer over a whole segment
// (see NormalizeFeatures); it is not part of the frame-by-frame computation and
// therefore never breaks streaming.
enum class NormalizeKind { kNone, kMean, kMeanVar };

struct FeatureConfig {
  FeatureKind kind = FeatureKind::kLfcc;
  int sample_rate_hz = 16000;
  int n_fft = 512;
  int win_length = 400;  // samples; <= n_fft, the window is centred in the FFT frame
  int hop_length = 160;  // samples, in [1, n_fft]
  WindowType window = WindowType::kHann;
  // true: the signal is reflect-padded by n_fft/2 on both sides (torch.stft
  // center=True, the torchaudio default); frame t is centred on sample t*hop.
  // false: frame t covers samples [t*hop, t*hop + n_fft).
  bool center = false;
  int n_filters = 20;     // filterbank channels (lfcc, mfcc, logmel, cqcc)
  int n_coeffs = 20;      // cepstral coefficients kept (lfcc, mfcc, cqcc), <= n_filters
  double f_min_hz = 0.0;
  double f_max_hz = 0.0;  // 0 means sample_rate_hz / 2
  int deltas = 0;         // 0: static only; 1: + deltas; 2: + deltas + delta-deltas
  double preemphasis = 0.0;  // y[n] = x[n] - a x[n-1] on the signal (x[-1] = 0); 0 disables
  // true: each frame's mean over its win_length samples is subtracted before the
  // window is applied (Kaldi's remove-dc-offset), so a constant offset left by a
  // sound card or an encoder cannot reach the features. Frame-local, so it never
  // breaks streaming. Absent from older model files, which therefore read false.
  bool remove_dc = false;
  // true (cepstral kinds only): each frame also yields n_coeffs cepstral
  // coefficients of its group delay, pooled over the same filterbank, so the
  // static part is [magnitude cepstrum, group-delay cepstrum] (see
  // FeatureExtractor::LogFrames). Magnitude features discard the phase, where
  // vocoders that rebuild it (Griffin-Lim, iSTFT heads, source-filter models)
  // leave their traces. Absent from older model files, which read false.
  bool group_delay = false;
  // group_delay only: a bin's smoothed power counts as at least this many dB below
  // the frame's mean power per bin (in [-200, 0]), so empty bands give delays near 0.
  // Added with the first model that shipped the group delay; earlier files with
  // group_delay were never shipped.
  double group_delay_floor_db = -60.0;
  LogKind log = LogKind::kLn;
  double log_floor = 1e-6;
  NormalizeKind normalize = NormalizeKind::kNone;

  // lfcc, mfcc and cqcc: log filterbank energies followed by a DCT (n_coeffs kept).
  bool IsCepstral() const {
    return kind == FeatureKind::kLfcc || kind == FeatureKind::kMfcc || kind == FeatureKind::kCqcc;
  }
  // Number of columns of the feature matrix: static dims * (1 + deltas); the
  // static dims double with group_delay.
  int StaticDims() const;
  int Dims() const { return StaticDims() * (1 + deltas); }
  double EffectiveFMaxHz() const { return f_max_hz > 0.0 ? f_max_hz : sample_rate_hz / 2.0; }

  // kInvalidArgument naming the offending field and the allowed range.
  absl::Status Validate() const;

  // Compact JSON with every field; enums as lower-case strings
  // ("lfcc", "hann", "ln", "meanvar", ...).
  std::string ToJson() const;
  // Missing fields take the defaults above; unknown fields, wrong types and
  // invalid values are kInvalidArgument (a model file must never be misread).
  static absl::StatusOr<FeatureConfig> FromJson(std::string_view json);

  bool operator==(const FeatureConfig&) const = default;
};

std::string_view FeatureKindName(FeatureKind kind);
absl::StatusOr<FeatureKind> ParseFeatureKind(std::string_view name);

}  // namespace spoofd::dsp
