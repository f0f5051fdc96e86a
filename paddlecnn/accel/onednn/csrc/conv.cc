// Convolution (NCHW at the boundary, oneDNN's blocked layouts inside) forward,
// backward-data and backward-weights with bias, as paddle custom operators.
// Primitives are built once per shape/stride/padding and kept in a static cache.
#include "act_grad.h"
#include "common.h"

namespace pcnn {

struct ConvGeom {
  memory::dims src, wei, bia, dst, strides, dilates, pad_l, pad_r;
  int groups;
};

struct ConvPrims {
  memory::desc src_md, wei_md, bia_md, dst_md;  // the user's plain layouts
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  bool has_bwd = false;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights::primitive_desc bwd_wei_pd;
  dnnl::convolution_backward_weights bwd_wei;
  int dpre_block = 0;  // channel_block of bwd_wei's diff_dst: the layout a fused activation's backward writes
};

// paddle: x (N, C, H, W), w (O, C/g, kh, kw); paddings {top, bottom, left, right};
// dilations as paddle counts them (1 = dense), oneDNN counts the gaps (0 = dense).
static ConvGeom geometry(const paddle::Tensor& x, const paddle::Tensor& w, const std::vector<int>& strides,
                         const std::vector<int>& pads, const std::vector<int>& dil, int groups) {
  ConvGeom g;
  g.src = dims_of(x);
  auto ws = dims_of(w);
  g.groups = groups;
  g.wei = groups == 1 ? ws : memory::dims{groups, ws[0] / groups, ws[1], ws[2], ws[3]};
  g.bia = {ws[0]};
  g.strides = {strides[0], strides[1]};
  g.dilates = {dil[0] - 1, dil[1] - 1};
  g.pad_l = {pads[0], pads[2]};
  g.pad_r = {pads[1], pads[3]};
  auto out = [&](int64_t in, int k, int i) {
    int64_t ek = (k - 1) * dil[i] + 1;
    return (in + pads[2 * i] + pads[2 * i + 1] - ek) / strides[i] + 1;
  };
  g.dst = {g.src[0], ws[0], out(g.src[2], ws[2], 0), out(g.src[3], ws[3], 1)};
  return g;
}

// act: an activation fused after the convolution as a post-op (none when null).
static ConvPrims* prims_for(const ConvGeom& g, const Act* act = nullptr) {
  static std::map<std::string, std::unique_ptr<ConvPrims>> cache;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto key = key_of({g.src, g.wei, g.strides, g.dilates, g.pad_l, g.pad_r}) +
             (act ? (act->sigmoid ? "sigmoid" : "relu" + std::to_string(act->alpha)) : "");
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  auto p = std::make_unique<ConvPrims>();
  p->src_md = memory::desc(g.src, dt::f32, tag::nchw);
  p->wei_md = memory::desc(g.wei, dt::f32, g.groups == 1 ? tag::oihw : tag::goihw);
  p->bia_md = memory::desc(g.bia, dt::f32, tag::a);
  p->dst_md = memory::desc(g.dst, dt::f32, tag::nchw);
  auto any = [](const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); };
  dnnl::primitive_attr attr;
  if (act) {
    dnnl::post_ops ops;
    ops.append_eltwise(act_algorithm(*act), act->sigmoid ? 0.f : act->alpha, 0.f);
    attr.set_post_ops(ops);
  }
  p->fwd_pd = dnnl::convolution_forward::primitive_desc(
      engine(), dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any(g.src), any(g.wei),
      p->bia_md, any(g.dst), g.strides, g.dilates, g.pad_l, g.pad_r, attr);
  p->fwd = dnnl::convolution_forward(p->fwd_pd);
  auto* raw = p.get();
  cache[key] = std::move(p);
  return raw;
}

static void make_backward(ConvPrims* p, const ConvGeom& g) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (p->has_bwd) return;
  auto any = [](const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); };
  p->bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(
      engine(), dnnl::algorithm::convolution_direct, any(g.src), any(g.wei), any(g.dst), g.strides, g.dilates,
      g.pad_l, g.pad_r, p->fwd_pd);
  p->bwd_data = dnnl::convolution_backward_data(p->bwd_data_pd);
  // With few input channels per group (LeNet's and AlexNet's first layers) a blocked source pads
  // the channels to 8 or 16: 8x the work and a reorder. The plain layout lets oneDNN pick a kernel
  // that reads NCHW as it is.
  bool few = g.src[1] / g.groups < 4;
  p->bwd_wei_pd = dnnl::convolution_backward_weights::primitive_desc(
      engine(), dnnl::algorithm::convolution_direct, few ? p->src_md : any(g.src), any(g.wei), p->bia_md,
      any(g.dst), g.strides,
      g.dilates, g.pad_l, g.pad_r, p->fwd_pd);
  p->bwd_wei = dnnl::convolution_backward_weights(p->bwd_wei_pd);
  p->dpre_block = channel_block(p->bwd_wei_pd.diff_dst_desc());
  p->has_bwd = true;
}

static memory user_mem(const memory::desc& md, const paddle::Tensor& t) {
  return memory(md, engine(), const_cast<float*>(t.data<float>()));
}

static paddle::Tensor dense(const paddle::Tensor& t) { return t.is_contiguous() ? t : t.contiguous(); }

static paddle::Tensor conv_forward(const paddle::Tensor& x_in, const paddle::Tensor& w_in, const paddle::Tensor& b_in,
                                   const std::vector<int>& strides, const std::vector<int>& paddings,
                                   const std::vector<int>& dilations, int groups, const Act* act) {
  check_cpu_f32(x_in, "x");
  check_cpu_f32(w_in, "weight");
  auto x = dense(x_in), w = dense(w_in), b = dense(b_in);
  auto g = geometry(x, w, strides, paddings, dilations, groups);
  auto* p = prims_for(g, act);
  auto y = paddle::empty({g.dst[0], g.dst[1], g.dst[2], g.dst[3]}, paddle::DataType::FLOAT32, x.place());
  auto src = as_layout(user_mem(p->src_md, x), p->fwd_pd.src_desc(), 0);
  auto wei = as_layout(user_mem(p->wei_md, w), p->fwd_pd.weights_desc(), 1);
  auto y_user = user_mem(p->dst_md, y);
  auto dst = target(y_user, p->fwd_pd.dst_desc(), 2);
  p->fwd.execute(stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei},
                            {DNNL_ARG_BIAS, user_mem(p->bia_md, b)}, {DNNL_ARG_DST, dst}});
  copy_back(dst, y_user);
  stream().wait();
  return y;
}

std::vector<paddle::Tensor> ConvForward(const paddle::Tensor& x, const paddle::Tensor& w, const paddle::Tensor& b,
                                        const std::vector<int>& strides, const std::vector<int>& paddings,
                                        const std::vector<int>& dilations, int groups, bool need_dx) {
  return {conv_forward(x, w, b, strides, paddings, dilations, groups, nullptr)};
}

// Out = act(conv(X) + B): leaky_relu(., alpha) or sigmoid, run inside the convolution's output pass.
std::vector<paddle::Tensor> ConvActForward(const paddle::Tensor& x, const paddle::Tensor& w, const paddle::Tensor& b,
                                           const std::vector<int>& strides, const std::vector<int>& paddings,
                                           const std::vector<int>& dilations, int groups, bool need_dx,
                                           const std::string& act, float alpha) {
  auto a = act_of(act, alpha);
  return {conv_forward(x, w, b, strides, paddings, dilations, groups, &a)};
}

// dX, dW, dB of a convolution from dY (the gradient at its output, before any activation).
// `dy` is oneDNN memory in any layout: the user's NCHW, or blocked already by the fused
// activation's backward (then usually no reorder is left).
static std::vector<paddle::Tensor> conv_backward(const paddle::Tensor& x, const paddle::Tensor& w,
                                                 const paddle::Tensor& b_in, const memory& dy, ConvPrims* p,
                                                 bool need_dx) {
  auto dx = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  auto dw = paddle::empty(w.shape(), paddle::DataType::FLOAT32, x.place());
  auto db = paddle::empty(b_in.shape(), paddle::DataType::FLOAT32, x.place());
  auto ddst_w = as_layout(dy, p->bwd_wei_pd.diff_dst_desc(), 0);
  auto src = as_layout(user_mem(p->src_md, x), p->bwd_wei_pd.src_desc(), 1);
  auto dw_user = user_mem(p->wei_md, dw);
  auto dwei = target(dw_user, p->bwd_wei_pd.diff_weights_desc(), 2);
  p->bwd_wei.execute(stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst_w}, {DNNL_ARG_DIFF_WEIGHTS, dwei},
                                {DNNL_ARG_DIFF_BIAS, user_mem(p->bia_md, db)}});
  copy_back(dwei, dw_user);
  if (need_dx) {  // the first layer's input needs no gradient: skip the whole pass
    bool same = p->bwd_data_pd.diff_dst_desc() == p->bwd_wei_pd.diff_dst_desc();
    auto ddst = same ? ddst_w : as_layout(dy, p->bwd_data_pd.diff_dst_desc(), 3);
    auto wei = as_layout(user_mem(p->wei_md, w), p->bwd_data_pd.weights_desc(), 4);
    auto dx_user = user_mem(p->src_md, dx);
    auto dsrc = target(dx_user, p->bwd_data_pd.diff_src_desc(), 5);
    p->bwd_data.execute(stream(), {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, dsrc}});
    copy_back(dsrc, dx_user);
  }
  stream().wait();
  return {dx, dw, db};
}

// The primitives of a convolution (with its backward) for paddle's tensors and attributes.
static ConvPrims* backward_prims(const paddle::Tensor& x, const paddle::Tensor& w, const std::vector<int>& strides,
                                 const std::vector<int>& paddings, const std::vector<int>& dilations, int groups,
                                 const Act* act) {
  auto g = geometry(x, w, strides, paddings, dilations, groups);
  auto* p = prims_for(g, act);
  make_backward(p, g);
  return p;
}

std::vector<paddle::Tensor> ConvBackward(const paddle::Tensor& x_in, const paddle::Tensor& w_in,
                                         const paddle::Tensor& b, const paddle::Tensor& dy_in,
                                         const std::vector<int>& strides, const std::vector<int>& paddings,
                                         const std::vector<int>& dilations, int groups, bool need_dx) {
  auto x = dense(x_in), w = dense(w_in), dy = dense(dy_in);
  auto* p = backward_prims(x, w, strides, paddings, dilations, groups, nullptr);
  return conv_backward(x, w, b, user_mem(p->dst_md, dy), p, need_dx);
}

// The fused activation's backward first (act_grad_into, straight into the blocked layout the
// weight gradient reads when oneDNN chose nChw8c/nChw16c), then the convolution's.
std::vector<paddle::Tensor> ConvActBackward(const paddle::Tensor& x_in, const paddle::Tensor& w_in,
                                            const paddle::Tensor& b, const paddle::Tensor& out_in,
                                            const paddle::Tensor& dout_in, const std::vector<int>& strides,
                                            const std::vector<int>& paddings, const std::vector<int>& dilations,
                                            int groups, bool need_dx, const std::string& act, float alpha) {
  auto x = dense(x_in), w = dense(w_in), out = dense(out_in), dout = dense(dout_in);
  auto a = act_of(act, alpha);
  auto* p = backward_prims(x, w, strides, paddings, dilations, groups, &a);
  int block = p->dpre_block;
  auto md = block ? p->bwd_wei_pd.diff_dst_desc() : p->dst_md;  // any other layout: NCHW, reordered later
  memory dpre(md, engine(), scratch(6, md.get_size()));
  auto d = dims_of(out);
  act_grad_into(a, out.data<float>(), dout.data<float>(), static_cast<float*>(dpre.get_data_handle()), d[0], d[1],
                d[2] * d[3], block ? block : 1);
  return conv_backward(x, w, b, dpre, p, need_dx);
}

std::vector<std::vector<int64_t>> ConvInferShape(const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                                                 const std::vector<int64_t>& b, const std::vector<int>& strides,
                                                 const std::vector<int>& pads, const std::vector<int>& dil,
                                                 int groups, bool need_dx) {
  auto out = [&](int64_t in, int64_t k, int i) {
    if (in < 0) return in;
    return (in + pads[2 * i] + pads[2 * i + 1] - ((k - 1) * dil[i] + 1)) / strides[i] + 1;
  };
  return {{x[0], w[0], out(x[2], w[2], 0), out(x[3], w[3], 1)}};
}

std::vector<std::vector<int64_t>> ConvActInferShape(const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                                                    const std::vector<int64_t>& b, const std::vector<int>& strides,
                                                    const std::vector<int>& pads, const std::vector<int>& dil,
                                                    int groups, bool need_dx, const std::string& act,
                                                    float alpha) {
  return ConvInferShape(x, w, b, strides, pads, dil, groups, need_dx);
}

std::vector<paddle::DataType> ConvInferDtype(const paddle::DataType& x, const paddle::DataType& w,
                                             const paddle::DataType& b) {
  return {x};
}

}  // namespace pcnn

PD_BUILD_OP(pcnn_conv2d)
    .Inputs({"X", "W", "B"})
    .Outputs({"Out"})
    .Attrs({"strides: std::vector<int>", "paddings: std::vector<int>", "dilations: std::vector<int>",
            "groups: int", "need_dx: bool"})
    .SetKernelFn(PD_KERNEL(pcnn::ConvForward))
    .SetInferShapeFn(PD_INFER_SHAPE(pcnn::ConvInferShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(pcnn::ConvInferDtype));

PD_BUILD_GRAD_OP(pcnn_conv2d)
    .Inputs({"X", "W", "B", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X"), paddle::Grad("W"), paddle::Grad("B")})
    .Attrs({"strides: std::vector<int>", "paddings: std::vector<int>", "dilations: std::vector<int>",
            "groups: int", "need_dx: bool"})
    .SetKernelFn(PD_KERNEL(pcnn::ConvBackward));

PD_BUILD_OP(pcnn_conv2d_act)
    .Inputs({"X", "W", "B"})
    .Outputs({"Out"})
    .Attrs({"strides: std::vector<int>", "paddings: std::vector<int>", "dilations: std::vector<int>",
            "groups: int", "need_dx: bool", "act: std::string", "alpha: float"})
    .SetKernelFn(PD_KERNEL(pcnn::ConvActForward))
    .SetInferShapeFn(PD_INFER_SHAPE(pcnn::ConvActInferShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(pcnn::ConvInferDtype));

PD_BUILD_GRAD_OP(pcnn_conv2d_act)
    .Inputs({"X", "W", "B", "Out", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X"), paddle::Grad("W"), paddle::Grad("B")})
    .Attrs({"strides: std::vector<int>", "paddings: std::vector<int>", "dilations: std::vector<int>",
            "groups: int", "need_dx: bool", "act: std::string", "alpha: float"})
    .SetKernelFn(PD_KERNEL(pcnn::ConvActBackward));
