#pragma once
// The optimizer the training recipes share: gradient-norm clipping as torch's clip_grad_norm_ and
// AdamW with decoupled weight decay as torch.optim.AdamW's update, on a list of float32
// parameters; and the float32-exact checkpoint of parameters and moments.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace mtk::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

struct AdamWState {
  std::vector<at::Tensor> params;    // trained in place
  std::vector<at::Tensor> exp_avg;   // first moments, zeros at the start
  std::vector<at::Tensor> exp_avg_sq;  // second moments

  explicit AdamWState(std::vector<at::Tensor> p);
  void zero_grad();
  // The global L2 norm of the gradients before clipping; scales them to max_norm when above it
  // (max_norm <= 0: no clipping).
  double clip_grad_norm(double max_norm);
  // One update at learning rate lr; t is the 1-based update count (bias correction).
  void step(double lr, int t, const AdamWOptions& o);
  // trainer_tensors.safetensors: param.<i>, exp_avg.<i>, exp_avg_sq.<i> (float32).
  void save(const std::string& path) const;
  // Throws mtk::Error when a tensor is missing or mis-shaped (a checkpoint of another run).
  void load(const std::string& path);
};

}  // namespace mtk::train
