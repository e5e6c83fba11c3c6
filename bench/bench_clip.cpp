// CLIP ViT-L/14 frame encoding speed, ours (libtorch, clip.hpp) vs transformers'
// CLIPVisionModelWithProjection + CLIPImageProcessorPil on the same frames, and the full VS of a
// 10 s vs 10 s pair of 854x480 Manim renders end to end (decode, SSIM, CLIP, DTW).
//
// Weights: --clip DIR (openai/clip-vit-large-patch14, scripts/fetch_models.sh clip), else the ViT-L/14
// shape with deterministic random weights (speed does not depend on the values). The peer runs with
// --peer-python (default /tmp/hfvenv/bin/python: any Python with torch + transformers + Pillow); it
// is skipped with a message when that is absent. Both sides use --threads intra-op threads and
// include preprocessing (resize, crop, normalise) in the timing; model loading is excluded.
//
//   bench_clip [--frames N] [--batch B] [--threads T] [--clip DIR] [--peer-python PY] [--no-peer] [--no-vs]
#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "../tests/video/manim_fixture.hpp"
#include "../tests/video/scenes.hpp"
#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/timing.hpp"
#include "mtk/encoders/clip.hpp"
#include "mtk/encoders/encoder_source.hpp"
#include "mtk/metrics/clip_score.hpp"
#include "mtk/video/decode.hpp"
#include "mtk/video/frame_dump.hpp"

namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {


const char* kPeer = R"PY(
import json, struct, sys, time
import numpy as np
import torch
from PIL import Image
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

dump, threads, batch, clip_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
frames = []
with open(dump, "rb") as f:
    assert f.read(8) == b"MTKFRM01"
    (n,) = struct.unpack("<I", f.read(4))
    for _ in range(n):
        w, h, c = struct.unpack("<III", f.read(12))
        frames.append(Image.fromarray(np.frombuffer(f.read(w * h * c), np.uint8).reshape(h, w, c)))
if clip_dir:
    model = CLIPVisionModelWithProjection.from_pretrained(clip_dir).eval()
else:
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=1024, intermediate_size=4096,
        num_attention_heads=16, num_hidden_layers=24, image_size=224, patch_size=14, projection_dim=768)).eval()
proc = CLIPImageProcessorPil()
def run(fr):
    out = []
    for i in range(0, len(fr), batch):
        px = proc(images=fr[i:i + batch], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            e = model(pixel_values=px).image_embeds
        out.append(e / e.norm(dim=-1, keepdim=True))
    return torch.cat(out)
run(frames[:batch])  # warm-up
t0 = time.perf_counter()
run(frames)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "frames": len(frames), "torch": torch.__version__}))
)PY";

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"CLIP ViT-L/14 frames per second (ours vs transformers) and the end-to-end VS of a 10 s pair"};
  int frames_n = 16, batch = 8, threads = 0;
  std::string clip_dir, peer_python = "/tmp/hfvenv/bin/python";
  bool no_peer = false, no_vs = false;
  app.add_option("--frames", frames_n, "frames to encode for the speed comparison");
  app.add_option("--batch", batch, "frames per forward pass");
  app.add_option("--threads", threads, "intra-op threads on both sides (0: all cores)");
  app.add_option("--clip", clip_dir, "openai/clip-vit-large-patch14 directory (default: random ViT-L/14 weights)");
  app.add_option("--peer-python", peer_python, "Python with torch + transformers + Pillow");
  app.add_flag("--no-peer", no_peer, "skip the transformers side");
  app.add_flag("--no-vs", no_vs, "skip the end-to-end VS of the 10 s pair");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines as they come, also through a pipe
  // libtorch's default here is 1 intra-op thread: use every core unless told otherwise.
  at::set_num_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  threads = at::get_num_threads();

  mtk::encoders::ClipOptions co;
  co.batch = batch;
  auto t0 = Clock::now();
  mtk::encoders::ClipVisionConfig cfg;
  cfg.hidden = 1024, cfg.intermediate = 4096, cfg.heads = 16, cfg.layers = 24, cfg.patch_size = 14, cfg.projection_dim = 768;
  const auto enc = clip_dir.empty() ? mtk::encoders::ClipVisionEncoder::from_source(cfg, mtk::encoders::random_source(11), co)
                                    : mtk::encoders::ClipVisionEncoder::load(clip_dir, co);
  std::printf("CLIP ViT-L/14 (%s weights) ready in %.1f s; %d threads, batch %d\n",
              clip_dir.empty() ? "random" : "real", mtk::seconds_since(t0), threads, batch);

  // The frames: the rendered Manim frames of the CLIP fixture, repeated.
  const stdfs::path fx = stdfs::path(mtk::build::kSourceDir) / "tests/encoders/fixtures/clip";
  mtk::video::SampleOptions so;
  so.gray = false;
  so.rgb = true;
  std::vector<mtk::video::Image> base, frames;
  for (const char* n : {"frame_shapes.png", "frame_graph.png", "frame_text.png"}) base.push_back(mtk::video::load_frames(fx / n, so).rgb.at(0));
  for (int i = 0; i < frames_n; ++i) frames.push_back(base[i % base.size()]);

  enc.encode_images({frames.begin(), frames.begin() + std::min<int>(batch, frames_n)});  // warm-up
  t0 = Clock::now();
  enc.encode_images(frames);
  const double ours_s = mtk::seconds_since(t0);
  const double ours_fps = frames_n / ours_s;
  std::printf("ours:         %d frames (854x480 -> 224) in %.2f s = %.2f frames/s\n", frames_n, ours_s, ours_fps);

  if (no_peer) {
    std::printf("transformers: skipped (--no-peer)\n");
  } else if (!stdfs::exists(peer_python)) {
    std::printf("transformers: skipped (%s not found; pass --peer-python to a Python with torch + transformers)\n",
                peer_python.c_str());
  } else {
    mtk::testing::ScratchDir dir("mtk-bench-clip-");
    mtk::video::write_frame_dump(dir.path / "frames.bin", frames);
    std::ofstream(dir.path / "peer.py") << kPeer;
    const auto r = mtk::testing::run_command(
        mtk::testing::shell_quote(peer_python) + " " + (dir.path / "peer.py").string() + " " +
            (dir.path / "frames.bin").string() + " " + std::to_string(threads) + " " + std::to_string(batch) + " " +
            mtk::testing::shell_quote(clip_dir),
        false);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(r.output.substr(r.output.rfind('{')));
    } catch (const std::exception&) {
      std::printf("transformers: failed (status %d): %s\n", r.status, r.output.c_str());
    }
    if (j.contains("seconds")) {
      const double peer_fps = frames_n / j["seconds"].get<double>();
      std::printf("transformers: %d frames in %.2f s = %.2f frames/s (torch %s)\n", frames_n, j["seconds"].get<double>(),
                  peer_fps, j["torch"].get<std::string>().c_str());
      std::printf("ratio ours / transformers: %.2fx\n", ours_fps / peer_fps);
    }
  }

  if (!no_vs) {
    std::printf("rendering (cached) two 10 s scenes at -ql ...\n");
    mtk::testing::require_manim();
    const auto ref_video = mtk::testing::render_scene(mtk::testing::long_code("BLUE", "RIGHT"), "Long");
    const auto gen_video = mtk::testing::render_scene(mtk::testing::long_code("RED", "UP"), "Long");
    mtk::video::SampleOptions vo;
    vo.gray = true;
    vo.rgb = true;
    t0 = Clock::now();
    const auto ref = mtk::video::load_frames(ref_video, vo);
    const auto gen = mtk::video::load_frames(gen_video, vo);
    const double t_decode = mtk::seconds_since(t0);
    t0 = Clock::now();
    const auto ss = mtk::metrics::s_ssim(ref.gray, gen.gray);
    const double t_ssim = mtk::seconds_since(t0);
    t0 = Clock::now();
    const auto er = enc.encode_images(ref.rgb), eg = enc.encode_images(gen.rgb);
    const double t_clip = mtk::seconds_since(t0);
    t0 = Clock::now();
    const auto sc = mtk::metrics::s_clip(er, eg);
    const double t_dtw = mtk::seconds_since(t0);
    const auto vs = mtk::metrics::combine_visual(true, ss.score, sc.score);
    std::printf("VS of a 10 s pair (%zu x %zu frames at 5 fps): S_SSIM %.4f, S_CLIP %.4f, VS %.4f\n", ref.size(),
                gen.size(), ss.score, sc.score, vs.vs.value_or(-1));
    std::printf("  decode %.2f s, SSIM matrix + DTW %.2f s, CLIP %zu frames %.2f s, CLIP DTW %.3f s: total %.2f s\n",
                t_decode, t_ssim, ref.size() + gen.size(), t_clip, t_dtw, t_decode + t_ssim + t_clip + t_dtw);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_clip: %s\n", e.what());
  return 1;
}
