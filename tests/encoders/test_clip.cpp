// CLIP vision tower (clip.hpp): parity with transformers' CLIPVisionModelWithProjection on real
// rendered Manim frames (tests/encoders/fixtures/clip, made by make_fixture.py with random weights that
// both sides generate from a seed), PIL-exact preprocessing, config parsing and loading errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/encoders/clip.hpp"
#include "mtk/encoders/encoder_source.hpp"
#include "mtk/video/decode.hpp"
#include "random_safetensors.hpp"

namespace {

namespace stdfs = std::filesystem;
using mtk::encoders::ClipVisionConfig;
using mtk::encoders::ClipVisionEncoder;

stdfs::path fixture_dir() { return stdfs::path(mtk::build::kSourceDir) / "tests" / "encoders" / "fixtures" / "clip"; }

const nlohmann::json& fixture() {
  static const nlohmann::json j = [] {
    std::ifstream in(fixture_dir() / "expected.json");
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
  }();
  return j;
}

mtk::video::Image load_rgb(const stdfs::path& p) {
  mtk::video::SampleOptions o;
  o.gray = false;
  o.rgb = true;
  auto f = mtk::video::load_frames(p, o);
  REQUIRE(f.rgb.size() == 1);
  return f.rgb[0];
}

std::vector<std::string> frame_names() { return fixture().at("frames").get<std::vector<std::string>>(); }

// The PIL crops normalised: the pixel tensor transformers saw.
std::vector<float> pil_pixels() {
  std::vector<float> px;
  for (const auto& n : frame_names()) {
    const auto crop = load_rgb(fixture_dir() / ("crop_" + n + ".png"));
    REQUIRE(crop.width == 224);
    REQUIRE(crop.height == 224);
    const size_t at = px.size();
    px.resize(at + 3 * 224 * 224);
    mtk::video::clip_normalize(crop, px.data() + at);
  }
  return px;
}

ClipVisionConfig config_of(const std::string& key) {
  return mtk::encoders::clip_vision_config_from_json(fixture().at("configs").at(key).at("config"));
}

double max_abs_diff(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].size() == b[i].size());
    for (size_t k = 0; k < a[i].size(); ++k) m = std::max(m, std::fabs(double(a[i][k]) - b[i][k]));
  }
  return m;
}

std::vector<std::vector<float>> expected(const std::string& key) {
  return fixture().at("configs").at(key).at("embeddings").get<std::vector<std::vector<float>>>();
}

}  // namespace

TEST_CASE("CLIP preprocessing matches PIL's bicubic resize and centre crop on rendered frames", "[clip][encoder]") {
  // crop_*.png are Pillow 11.1's resize(BICUBIC) + crop, which make_fixture.py checked equals
  // transformers' CLIPImageProcessorPil. Our fixed-point resize reproduces it: measured difference
  // 0 pixel levels (so 0 after normalisation) on the three frames.
  int worst = 0;
  for (const auto& n : frame_names()) {
    const auto frame = load_rgb(fixture_dir() / ("frame_" + n + ".png"));
    REQUIRE(frame.width == 854);
    REQUIRE(frame.height == 480);
    const auto ours = mtk::video::clip_resize_crop(frame, 224);
    const auto pil = load_rgb(fixture_dir() / ("crop_" + n + ".png"));
    REQUIRE(ours.width == 224);
    REQUIRE(ours.height == 224);
    REQUIRE(ours.channels == 3);
    for (size_t i = 0; i < ours.pixels.size(); ++i) worst = std::max(worst, std::abs(int(ours.pixels[i]) - int(pil.pixels[i])));
  }
  CHECK(worst == 0);
  // The frames are not trivially dark: the crops hold real content.
  const auto crop = load_rgb(fixture_dir() / "crop_graph.png");
  size_t lit = 0;
  for (auto p : crop.pixels) lit += p > 40;
  CHECK(lit > 1000);
}

TEST_CASE("PIL-style resize: identity, gray input and sizes", "[clip][encoder]") {
  mtk::video::Image g{5, 4, 1, {}};
  for (int i = 0; i < 20; ++i) g.pixels.push_back(static_cast<uint8_t>(i * 13));
  const auto same = mtk::video::pil_bicubic_resize(g, 5, 4);
  CHECK(same.pixels == g.pixels);  // the bicubic kernel is 1 at 0 and 0 at +-1, +-2
  const auto up = mtk::video::clip_resize_crop(g, 8);
  CHECK(up.width == 8);
  CHECK(up.height == 8);
  CHECK(up.channels == 3);
  CHECK_THROWS_AS(mtk::video::clip_resize_crop(mtk::video::Image{}, 224), mtk::Error);
}

TEST_CASE("CLIP config.json: a CLIPModel's vision_config, a vision-only config, defaults", "[clip][encoder]") {
  nlohmann::json full = {{"model_type", "clip"},
                         {"projection_dim", 768},
                         {"vision_config", {{"hidden_size", 1024}, {"intermediate_size", 4096},
                                            {"num_attention_heads", 16}, {"num_hidden_layers", 24},
                                            {"patch_size", 14}, {"projection_dim", 512}}}};
  const auto c = mtk::encoders::clip_vision_config_from_json(full);
  CHECK(c.hidden == 1024);
  CHECK(c.layers == 24);
  CHECK(c.projection_dim == 768);  // the top-level value wins for a CLIPModel
  CHECK(c.tokens() == 257);
  CHECK(c.act == "quick_gelu");
  const auto d = mtk::encoders::clip_vision_config_from_json(nlohmann::json::object());
  CHECK(d.hidden == 768);
  CHECK(d.patch_size == 32);
  CHECK(d.projection_dim == 512);
  CHECK_THROWS_AS(mtk::encoders::clip_vision_config_from_json({{"hidden_size", 100}, {"num_attention_heads", 12}}),
                  mtk::Error);
  CHECK_THROWS_AS(mtk::encoders::clip_vision_config_from_json({{"hidden_act", "swish42"}}), mtk::Error);
}

TEST_CASE("CLIP tiny config from a CLIPModel safetensors directory matches transformers", "[clip][encoder]") {
  const auto& fx = fixture().at("configs").at("tiny");
  const ClipVisionConfig cfg = config_of("tiny");
  const auto dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-clip-");
  auto shapes = ClipVisionEncoder::tensor_shapes(cfg);
  shapes.push_back({"text_model.embeddings.token_embedding.weight", {10, 8}});  // a CLIPModel's text side
  shapes.push_back({"logit_scale", {}});
  mtk::test::write_random_safetensors(dir / "model.safetensors", shapes, fx.at("seed").get<uint64_t>());
  nlohmann::json config = {{"model_type", "clip"}, {"projection_dim", cfg.projection_dim},
                           {"vision_config", fx.at("config")}, {"text_config", nlohmann::json::object()}};
  config["vision_config"].erase("projection_dim");
  std::ofstream(dir / "config.json") << config.dump();

  const ClipVisionEncoder enc = ClipVisionEncoder::load(dir.string());
  CHECK(enc.dim() == 16);
  const auto px = pil_pixels();
  const auto got = enc.encode_pixels(px, 3, 2);  // batches of 2 and 1
  CHECK(max_abs_diff(got, expected("tiny")) < 1e-4);
  // The same through the file path rather than the directory.
  const ClipVisionEncoder enc2 = ClipVisionEncoder::load((dir / "model.safetensors").string());
  CHECK(max_abs_diff(enc2.encode_pixels(px, 3), got) == 0.0);

  SECTION("loading errors name the fix") {
    CHECK_THROWS_WITH(ClipVisionEncoder::load((dir / "nope").string()), Catch::Contains("fetch_models.sh clip"));
    config["vision_config"]["hidden_size"] = 64;  // weights are 32 wide
    config["vision_config"]["intermediate_size"] = 64;
    std::ofstream(dir / "config.json") << config.dump();
    CHECK_THROWS_WITH(ClipVisionEncoder::load(dir.string()), Catch::Contains("has shape"));
    stdfs::remove(dir / "config.json");
    CHECK_THROWS_WITH(ClipVisionEncoder::load(dir.string()), Catch::Contains("config.json"));
  }
  stdfs::remove_all(dir);
}

TEST_CASE("CLIP ViT-L/14 (random weights) matches transformers within 1e-4 on rendered frames", "[clip][encoder]") {
  const auto& fx = fixture().at("configs").at("vitl14");
  const ClipVisionConfig cfg = config_of("vitl14");
  REQUIRE(cfg.layers == 24);
  REQUIRE(cfg.hidden == 1024);
  REQUIRE(cfg.projection_dim == 768);
  const ClipVisionEncoder enc =
      ClipVisionEncoder::from_source(cfg, mtk::encoders::random_source(fx.at("seed").get<uint64_t>()));
  const auto want = expected("vitl14");
  const auto got = enc.encode_pixels(pil_pixels(), 3);
  const double err = max_abs_diff(got, want);
  INFO("max |ours - transformers| = " << err);
  CHECK(err < 1e-4);
  // Measured: 9.9e-8. The frames' embeddings differ from each other by 3e-3 to 9e-3 (mostly black
  // frames through random weights), far above both, so the check tells the frames apart.
  CHECK(max_abs_diff({want[0]}, {want[1]}) > 10 * 1e-4);
  CHECK(max_abs_diff({want[1]}, {want[2]}) > 10 * 1e-4);

  // End to end from the 854x480 frames with our resize: the same as from PIL's crops.
  std::vector<mtk::video::Image> frames;
  for (const auto& n : frame_names()) frames.push_back(load_rgb(fixture_dir() / ("frame_" + n + ".png")));
  const auto e2e = enc.encode_images(frames, 2);
  const double resize_effect = max_abs_diff(e2e, got);
  // Our resize gives PIL's bytes exactly (test above), so only float rounding of another batch
  // split remains: measured 6.9e-8.
  INFO("embedding difference, our resize vs PIL's = " << resize_effect);
  CHECK(resize_effect < 1e-6);
  CHECK(max_abs_diff(e2e, want) < 1e-4);
}
