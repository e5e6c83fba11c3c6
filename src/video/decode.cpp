// Video decoding with libavformat/libavcodec, converted to pixels exactly as OpenCV's FFmpeg backend
// (cv2.VideoCapture) does, so the frames match what the paper's Python code sees:
//   - frames in decoder output order, every frame counted, until EOF (decoder drained), a read
//     error (then drained, as OpenCV does) or a packet the decoder refuses (then stop, as OpenCV);
//     at most nb_frames + 1 frames when the container states nb_frames (OpenCV's cap);
//   - YUV -> BGR24 with libswscale, SWS_BICUBIC, over the coded size (context->coded_width x
//     coded_height, as OpenCV sizes its conversion), into a 32-byte aligned buffer, then cropped;
//   - display-matrix rotation applied (OpenCV's CAP_PROP_ORIENTATION_AUTO default);
//   - grayscale with cv::cvtColor(BGR2GRAY), RGB with cv::cvtColor(BGR2RGB).
// Still images (PNG/JPEG/BMP) go through cv::imread(IMREAD_COLOR), as the paper's code does.
#include "mtk/video/decode.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "mtk/core/error.hpp"
#include "mtk/core/strings.hpp"

namespace mtk::video {

namespace {

namespace stdfs = std::filesystem;

// ---- libav logging: route into spdlog (debug) and remember the last error line of this thread,
// so that a failure message can say what libav saw ("moov atom not found").
thread_local std::string t_last_av_error;

void av_log_to_spdlog(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > av_log_get_level()) return;
  char line[1024];
  int print_prefix = 1;
  va_list copy;
  va_copy(copy, vl);
  av_log_format_line2(avcl, level, fmt, copy, line, sizeof(line), &print_prefix);
  va_end(copy);
  std::string s(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return;
  if (level <= AV_LOG_ERROR) t_last_av_error = s;
  spdlog::debug("libav: {}", s);
}

void init_libav_logging() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(av_log_to_spdlog);
  });
}

std::string av_error_string(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  std::string s(buf);
  if (!t_last_av_error.empty()) {
    // Strip the "[mov,mp4,... @ 0x...] " context prefix.
    std::string detail = t_last_av_error;
    if (!detail.empty() && detail[0] == '[') {
      auto close = detail.find("] ");
      if (close != std::string::npos) detail = detail.substr(close + 2);
    }
    if (detail != s) s += " (" + detail + ")";
  }
  return s;
}

// ---- RAII holders
struct FormatCtx {
  AVFormatContext* p = nullptr;
  ~FormatCtx() {
    if (p) avformat_close_input(&p);
  }
};
struct CodecCtx {
  AVCodecContext* p = nullptr;
  ~CodecCtx() {
    if (p) avcodec_free_context(&p);
  }
};
struct Packet {
  AVPacket* p = av_packet_alloc();
  ~Packet() { av_packet_free(&p); }
};
struct FramePtr {
  AVFrame* p = av_frame_alloc();
  ~FramePtr() { av_frame_free(&p); }
};
struct SwsCtx {
  SwsContext* p = nullptr;
  ~SwsCtx() {
    if (p) sws_freeContext(p);
  }
};


void check_file(const stdfs::path& path) {
  std::error_code ec;
  if (!stdfs::exists(path, ec))
    throw Error("video file not found: " + path.string(), "check the path; a failed render leaves no file");
  if (stdfs::is_directory(path, ec))
    throw Error("expected a video or image file but got a directory: " + path.string(), "pass the file itself");
  if (stdfs::file_size(path, ec) == 0 && !ec)
    throw Error("video file is empty (0 bytes): " + path.string(), "re-render it; the renderer may have been killed");
}

// The paper's code treats .png/.jpg/.jpeg/.bmp as a one-frame video; we also recognise PNG and
// JPEG content behind another extension.
bool is_still_image(const stdfs::path& path) {
  const std::string ext = lower(path.extension().string());
  if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp") return true;
  std::ifstream in(path, std::ios::binary);
  unsigned char head[8] = {0};
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  if (in.gcount() >= 8 && std::memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0) return true;
  if (in.gcount() >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return true;
  return false;
}

Image to_image(const cv::Mat& m) {
  Image im;
  im.width = m.cols;
  im.height = m.rows;
  im.channels = m.channels();
  const size_t row_bytes = static_cast<size_t>(m.cols) * m.channels();
  im.pixels.resize(row_bytes * m.rows);
  for (int y = 0; y < m.rows; ++y) std::memcpy(im.pixels.data() + y * row_bytes, m.ptr<uint8_t>(y), row_bytes);
  return im;
}

void add_bgr_frame(const cv::Mat& bgr, const SampleOptions& opts, Frames& out) {
  if (opts.gray) {
    cv::Mat g;
    cv::cvtColor(bgr, g, cv::COLOR_BGR2GRAY);
    out.gray.push_back(to_image(g));
  }
  if (opts.rgb) {
    cv::Mat c;
    cv::cvtColor(bgr, c, cv::COLOR_BGR2RGB);
    out.rgb.push_back(to_image(c));
  }
}

Frames load_still(const stdfs::path& path, const SampleOptions& opts) {
  cv::Mat bgr;
  try {
    bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw Error("cannot read image " + path.string() + ": " + e.what(), "check that it is a valid PNG/JPEG/BMP file");
  }
  if (bgr.empty() || bgr.type() != CV_8UC3)
    throw Error("cannot read image " + path.string() + ": not a valid or supported PNG/JPEG/BMP file",
                "re-render it or check the file");
  Frames out;
  out.still = true;
  out.fps = 0.0;
  out.decoded = 1;
  out.step = 1;
  out.indices.push_back(0);
  add_bgr_frame(bgr, opts, out);
  return out;
}

// Rotation in degrees clockwise as OpenCV computes it (CAP_PROP_ORIENTATION_META).
int rotation_degrees(const AVStream* st) {
  const uint8_t* data = nullptr;
#if LIBAVFORMAT_VERSION_MAJOR >= 61
  const AVPacketSideData* sd =
      av_packet_side_data_get(st->codecpar->coded_side_data, st->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
  if (sd) data = sd->data;
#else
  data = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
#endif
  if (!data) return 0;
  double r = av_display_rotation_get(reinterpret_cast<const int32_t*>(data));
  if (std::isnan(r)) return 0;
  int angle = -static_cast<int>(std::lround(r));
  if (angle < 0) angle += 360;
  return angle;
}

std::string pix_fmt_name(int fmt) {
  const char* n = av_get_pix_fmt_name(static_cast<AVPixelFormat>(fmt));
  return n ? n : "unknown";
}

double stream_fps(const AVStream* st) {
  if (st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0) return av_q2d(st->avg_frame_rate);
  if (st->r_frame_rate.num > 0 && st->r_frame_rate.den > 0) return av_q2d(st->r_frame_rate);
  return 0.0;
}

struct OpenVideo {
  FormatCtx fmt;
  int stream = -1;
  const AVCodec* codec = nullptr;
};

void open_video(const stdfs::path& path, OpenVideo& v) {
  init_libav_logging();
  t_last_av_error.clear();
  int ret = avformat_open_input(&v.fmt.p, path.c_str(), nullptr, nullptr);
  if (ret < 0)
    throw Error("cannot open video " + path.string() + ": " + av_error_string(ret),
                "the file is not a readable video (corrupt, truncated or not a video); re-render it");
  ret = avformat_find_stream_info(v.fmt.p, nullptr);
  if (ret < 0)
    throw Error("cannot read stream information from " + path.string() + ": " + av_error_string(ret),
                "the file is corrupt or truncated; re-render it");
  ret = av_find_best_stream(v.fmt.p, AVMEDIA_TYPE_VIDEO, -1, -1, &v.codec, 0);
  if (ret == AVERROR_STREAM_NOT_FOUND || (ret < 0 && ret != AVERROR_DECODER_NOT_FOUND))
    throw Error("no video stream in " + path.string(), "pass a video file (mp4/webm/mov) or a PNG/JPEG still");
  if (ret == AVERROR_DECODER_NOT_FOUND || !v.codec)
    throw Error("no decoder for the video stream of " + path.string(), "install an FFmpeg build with that codec");
  v.stream = ret;
}

// The decoder of the video stream, opened with the stream's parameters.
void open_decoder(const stdfs::path& path, const OpenVideo& v, const SampleOptions& opts, CodecCtx& cc) {
  const AVStream* st = v.fmt.p->streams[v.stream];
  cc.p = avcodec_alloc_context3(v.codec);
  if (!cc.p) throw Error("out of memory allocating a decoder for " + path.string());
  int ret = avcodec_parameters_to_context(cc.p, st->codecpar);  // copies extradata (codec private data)
  if (ret < 0) throw Error("cannot configure the decoder for " + path.string() + ": " + av_error_string(ret));
  cc.p->pkt_timebase = st->time_base;
  cc.p->thread_count = static_cast<int>(opts.decode_threads);  // 0 = libav picks
  ret = avcodec_open2(cc.p, v.codec, nullptr);
  if (ret < 0)
    throw Error("cannot open the " + std::string(v.codec->name) + " decoder for " + path.string() + ": " +
                    av_error_string(ret),
                "the stream parameters are corrupt; re-render the video");
}

// Decoded pictures to BGR (as OpenCV's VideoCapture converts them), rotated by the stream's
// display matrix, then sampled into Frames.
class FrameConverter {
 public:
  FrameConverter(const stdfs::path& path, const AVCodecContext* cc, int rotation, const SampleOptions& opts, Frames& out)
      : path_(path), cc_(cc), rotation_(rotation), opts_(opts), out_(out) {}

  void add(const AVFrame* f) {
    // OpenCV converts over the coded size (macroblock-aligned) when the frame buffer has it.
    int w = cc_->coded_width, h = cc_->coded_height;
    if (w < f->width || h < f->height) {
      w = f->width;
      h = f->height;
    } else {
      for (int plane = 0; plane < 4 && f->data[plane]; ++plane) {
        if (av_image_get_linesize(static_cast<AVPixelFormat>(f->format), w, plane) > f->linesize[plane]) {
          w = f->width;
          h = f->height;
          break;
        }
      }
    }
    if (!sws_.p || w != sws_w_ || h != sws_h_ || f->format != sws_fmt_) reconfigure(w, h, f->format);
    sws_scale(sws_.p, f->data, f->linesize, 0, f->height, bgr_.p->data, bgr_.p->linesize);
    cv::Mat bgr(f->height, f->width, CV_8UC3, bgr_.p->data[0], static_cast<size_t>(bgr_.p->linesize[0]));
    if (rotation_ != 90 && rotation_ != 180 && rotation_ != 270) return add_bgr_frame(bgr, opts_, out_);
    cv::Mat r;
    cv::rotate(bgr, r, rotation_ == 90 ? cv::ROTATE_90_CLOCKWISE : rotation_ == 180 ? cv::ROTATE_180
                                                                                     : cv::ROTATE_90_COUNTERCLOCKWISE);
    add_bgr_frame(r, opts_, out_);
  }

 private:
  void reconfigure(int w, int h, int format) {
    sws_.p = sws_getCachedContext(sws_.p, w, h, static_cast<AVPixelFormat>(format), w, h, AV_PIX_FMT_BGR24, SWS_BICUBIC,
                                  nullptr, nullptr, nullptr);
    if (!sws_.p) throw Error("cannot convert pixel format " + pix_fmt_name(format) + " of " + path_.string());
    av_frame_unref(bgr_.p);
    bgr_.p->format = AV_PIX_FMT_BGR24;
    bgr_.p->width = w;
    bgr_.p->height = h;
    if (av_frame_get_buffer(bgr_.p, 32) < 0) throw Error("out of memory decoding " + path_.string());
    sws_w_ = w;
    sws_h_ = h;
    sws_fmt_ = format;
  }

  const stdfs::path& path_;
  const AVCodecContext* cc_;
  const int rotation_;  // degrees clockwise; only 90, 180 and 270 rotate (as OpenCV)
  const SampleOptions& opts_;
  Frames& out_;
  FramePtr bgr_;
  SwsCtx sws_;
  int sws_w_ = 0, sws_h_ = 0, sws_fmt_ = -1;
};

// The read-send-receive loop, with OpenCV's tolerance of decode errors and its frame-count cap.
class DecodeLoop {
 public:
  DecodeLoop(const stdfs::path& path, const OpenVideo& v, AVCodecContext* cc, FrameConverter& conv, Frames& out)
      : path_(path), v_(v), cc_(cc), conv_(conv), out_(out), nb_frames_(v.fmt.p->streams[v.stream]->nb_frames) {}

  void run() {
    bool drain = true;
    while (!stop_) {
      int ret = av_read_frame(v_.fmt.p, pkt_.p);
      if (ret == AVERROR(EAGAIN)) continue;
      if (ret < 0) {
        if (ret != AVERROR_EOF)
          spdlog::warn("reading {} ended early after {} frames: {} (file truncated?)", path_.string(), out_.decoded,
                       av_error_string(ret));
        break;
      }
      if (pkt_.p->stream_index != v_.stream) {
        av_packet_unref(pkt_.p);
        continue;
      }
      ret = avcodec_send_packet(cc_, pkt_.p);
      for (int tries = 0; ret == AVERROR(EAGAIN) && !stop_ && tries < 1000; ++tries) {  // output full: drain it first
        receive_all();
        ret = avcodec_send_packet(cc_, pkt_.p);
      }
      av_packet_unref(pkt_.p);
      if (ret < 0 && !stop_) {  // OpenCV stops reading at a refused packet
        spdlog::warn("decoding {} stopped after {} frames: {}", path_.string(), out_.decoded, av_error_string(ret));
        drain = false;
        break;
      }
      receive_all();
    }
    if (drain && !stop_ && avcodec_send_packet(cc_, nullptr) >= 0) {  // drain: frames held back by reordering/threads
      // A decode error while draining ends the video, as in OpenCV (its next flush packet is refused).
      receive_all();
    }
  }

 private:
  // Receives every frame the decoder has ready; returns on EAGAIN ("needs input"), EOF ("drained")
  // or a decode error. After a decode error OpenCV reads the next packet, so decoding goes on (up
  // to 64 errors in a row).
  int receive_all() {
    while (!stop_) {
      int r = avcodec_receive_frame(cc_, frame_.p);
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return r;
      if (r < 0) {
        spdlog::debug("decoding {}: frame {} not decodable: {}", path_.string(), out_.decoded, av_error_string(r));
        if (++errors_in_a_row_ > 64) {
          spdlog::warn("decoding {} stopped after {} frames: {}", path_.string(), out_.decoded, av_error_string(r));
          stop_ = true;
        }
        return r;
      }
      errors_in_a_row_ = 0;
      if (nb_frames_ > 0 && out_.decoded > nb_frames_) {  // OpenCV's grabFrame cap
        stop_ = true;
        av_frame_unref(frame_.p);
        return 0;
      }
      const int64_t index = out_.decoded++;
      if (index % out_.step == 0) {
        if (!frame_.p->data[0]) {
          av_frame_unref(frame_.p);
          throw Error("decoder returned an empty picture in " + path_.string());
        }
        conv_.add(frame_.p);
        out_.indices.push_back(index);
      }
      av_frame_unref(frame_.p);
    }
    return 0;
  }

  const stdfs::path& path_;
  const OpenVideo& v_;
  AVCodecContext* cc_;
  FrameConverter& conv_;
  Frames& out_;
  const int64_t nb_frames_;
  Packet pkt_;
  FramePtr frame_;
  bool stop_ = false;
  int errors_in_a_row_ = 0;
};

}  // namespace

Frames load_frames(const std::filesystem::path& path, const SampleOptions& opts) {
  if (!(opts.target_fps > 0.0)) throw Error("SampleOptions::target_fps must be > 0");
  check_file(path);
  if (is_still_image(path)) return load_still(path, opts);

  OpenVideo v;
  open_video(path, v);
  const AVStream* st = v.fmt.p->streams[v.stream];
  Frames out;
  out.fps = stream_fps(st);
  if (!(out.fps > 0.0)) throw Error("cannot determine the frame rate of " + path.string(), "the file is corrupt; re-render it");
  out.step = std::max(1, static_cast<int>(out.fps / opts.target_fps));  // Python int() of a positive float

  CodecCtx cc;
  open_decoder(path, v, opts, cc);
  FrameConverter conv(path, cc.p, rotation_degrees(st), opts, out);
  DecodeLoop(path, v, cc.p, conv, out).run();
  if (out.decoded == 0 || out.indices.empty())
    throw Error("no frames could be decoded from " + path.string(), "the video is empty, truncated or corrupt; re-render it");
  return out;
}

VideoInfo probe(const std::filesystem::path& path) {
  check_file(path);
  VideoInfo info;
  if (is_still_image(path)) {
    cv::Mat m;
    try {
      m = cv::imread(path.string(), cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
      throw Error("cannot read image " + path.string() + ": " + e.what());
    }
    if (m.empty()) throw Error("cannot read image " + path.string() + ": not a valid or supported PNG/JPEG/BMP file");
    info.width = m.cols;
    info.height = m.rows;
    info.still = true;
    const std::string ext = lower(path.extension().string());
    info.codec = ext.empty() ? "image" : ext.substr(1);
    return info;
  }
  OpenVideo v;
  open_video(path, v);
  const AVStream* st = v.fmt.p->streams[v.stream];
  info.width = st->codecpar->width;
  info.height = st->codecpar->height;
  const int rot = rotation_degrees(st);
  if (rot == 90 || rot == 270) std::swap(info.width, info.height);
  info.fps = stream_fps(st);
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
    info.duration_s = static_cast<double>(st->duration) * av_q2d(st->time_base);
  else if (v.fmt.p->duration != AV_NOPTS_VALUE && v.fmt.p->duration > 0)
    info.duration_s = static_cast<double>(v.fmt.p->duration) / AV_TIME_BASE;
  info.codec = avcodec_get_name(st->codecpar->codec_id);
  return info;
}

}  // namespace mtk::video
