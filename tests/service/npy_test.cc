#include "service/npy.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace spoofd::npy {
namespace {

std::filesystem::path TempPath(const std::string& name) {
  return std::filesystem::path(::testing::TempDir()) / name;
}

TEST(NpyTest, RoundTripsShapeAndData) {
  const std::vector<float> data{1.5f, -2.0f, 3.25f, 0.0f, 1e-7f, 42.0f};
  const auto path = TempPath("round.npy");
  ASSERT_TRUE(WriteFloat32File(path, data.data(), {2, 3}).ok());
  auto back = ReadFloat32File(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(back->data, data);
  // Header is padded so the data starts on a 64-byte boundary, as NumPy writes it.
  EXPECT_EQ((std::filesystem::file_size(path) - data.size() * 4) % 64, 0u);
  EXPECT_FALSE(std::filesystem::exists(TempPath("round.npy.tmp")));
}

TEST(NpyTest, OneDimensionalAndEmpty) {
  const std::vector<float> data{1.0f, 2.0f};
  ASSERT_TRUE(WriteFloat32File(TempPath("vec.npy"), data.data(), {2}).ok());
  EXPECT_EQ(ReadFloat32File(TempPath("vec.npy"))->shape, (std::vector<std::int64_t>{2}));
  ASSERT_TRUE(WriteFloat32File(TempPath("empty.npy"), nullptr, {0, 20}).ok());
  auto empty = ReadFloat32File(TempPath("empty.npy"));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->shape, (std::vector<std::int64_t>{0, 20}));
  EXPECT_TRUE(empty->data.empty());
}

TEST(NpyTest, RejectsOtherFiles) {
  EXPECT_EQ(ReadFloat32File(TempPath("missing.npy")).status().code(), absl::StatusCode::kNotFound);
  std::ofstream(TempPath("text.npy")) << "hello";
  EXPECT_EQ(ReadFloat32File(TempPath("text.npy")).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<float> data(6, 1.0f);
  ASSERT_TRUE(WriteFloat32File(TempPath("cut.npy"), data.data(), {2, 3}).ok());
  std::filesystem::resize_file(TempPath("cut.npy"), std::filesystem::file_size(TempPath("cut.npy")) - 4);
  EXPECT_EQ(ReadFloat32File(TempPath("cut.npy")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spoofd::npy
