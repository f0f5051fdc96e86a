// Max and average pooling forward/backward (NCHW at the boundary), as paddle custom operators.
// Max pooling keeps oneDNN's workspace (where each window's maximum was) as a second output,
// so the backward pass does not search the windows again. Inside, the pooling runs on a
// channel-blocked copy (nChw16c or nChw8c, whichever oneDNN has a JIT kernel for): on plain
// NCHW oneDNN only has its reference kernel, several times slower than paddle's own pool.
#include "common.h"

namespace pcnn {

struct PoolPrims {
  memory::desc src_md, dst_md;   // the user's NCHW
  memory::desc bsrc_md, bdst_md;  // what the primitives run on (blocked, or NCHW when no JIT kernel is)
  dnnl::pooling_forward::primitive_desc fwd_pd;
  dnnl::pooling_forward fwd;
  dnnl::pooling_backward::primitive_desc bwd_pd;
  dnnl::pooling_backward bwd;
};

// algo: 0 max, 1 average over the real pixels only, 2 average counting the zero padding.
static dnnl::algorithm algorithm_of(int algo) {
  if (algo == 0) return dnnl::algorithm::pooling_max;
  return algo == 1 ? dnnl::algorithm::pooling_avg_exclude_padding : dnnl::algorithm::pooling_avg_include_padding;
}

// paddings {top, bottom, left, right}; bottom/right already include ceil mode's extra rows.
static memory::dims pool_out(const memory::dims& src, const std::vector<int>& k, const std::vector<int>& s,
                             const std::vector<int>& p) {
  return {src[0], src[1], (src[2] + p[0] + p[1] - k[0]) / s[0] + 1, (src[3] + p[2] + p[3] - k[1]) / s[1] + 1};
}

static PoolPrims* pool_prims(const memory::dims& src, const std::vector<int>& k, const std::vector<int>& s,
                             const std::vector<int>& p, int algo) {
  static std::map<std::string, std::unique_ptr<PoolPrims>> cache;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  memory::dims kd{k[0], k[1]}, sd{s[0], s[1]}, pl{p[0], p[2]}, pr{p[1], p[3]}, dil{0, 0};
  auto key = key_of({src, kd, sd, pl, pr, {algo}});
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  auto q = std::make_unique<PoolPrims>();
  auto out = pool_out(src, k, s, p);
  q->src_md = memory::desc(src, dt::f32, tag::nchw);
  q->dst_md = memory::desc(out, dt::f32, tag::nchw);
  auto alg = algorithm_of(algo);
  auto pooling = [&](tag layout, bool allow_empty) {
    q->bsrc_md = memory::desc(src, dt::f32, layout);
    q->bdst_md = memory::desc(out, dt::f32, layout);
    return dnnl::pooling_forward::primitive_desc(engine(), dnnl::prop_kind::forward_training, alg, q->bsrc_md,
                                                 q->bdst_md, sd, kd, dil, pl, pr, dnnl::primitive_attr(), allow_empty);
  };
  bool jit = false;
  for (auto layout : {tag::nChw16c, tag::nChw8c}) {  // the first blocked layout with a JIT kernel
    q->fwd_pd = pooling(layout, true);
    jit = q->fwd_pd && std::string(q->fwd_pd.impl_info_str()).find("jit") != std::string::npos;
    if (jit) break;
  }
  if (!jit) q->fwd_pd = pooling(tag::nchw, false);  // no JIT kernel: pool NCHW as it is
  q->fwd = dnnl::pooling_forward(q->fwd_pd);
  q->bwd_pd = dnnl::pooling_backward::primitive_desc(engine(), alg, q->bsrc_md, q->bdst_md, sd, kd, dil, pl, pr,
                                                     q->fwd_pd);
  q->bwd = dnnl::pooling_backward(q->bwd_pd);
  auto* raw = q.get();
  cache[key] = std::move(q);
  return raw;
}

std::vector<paddle::Tensor> PoolForward(const paddle::Tensor& x_in, const std::vector<int>& kernel,
                                        const std::vector<int>& strides, const std::vector<int>& paddings,
                                        int algo) {
  check_cpu_f32(x_in, "x");
  auto x = x_in.is_contiguous() ? x_in : x_in.contiguous();
  auto* q = pool_prims(dims_of(x), kernel, strides, paddings, algo);
  auto od = q->dst_md.get_dims();
  auto y = paddle::empty({od[0], od[1], od[2], od[3]}, paddle::DataType::FLOAT32, x.place());
  int64_t ws_bytes = algo == 0 ? static_cast<int64_t>(q->fwd_pd.workspace_desc().get_size()) : 1;
  auto ws = paddle::empty({ws_bytes}, paddle::DataType::UINT8, x.place());
  auto src = as_layout(memory(q->src_md, engine(), const_cast<float*>(x.data<float>())), q->bsrc_md, 0);
  memory y_user(q->dst_md, engine(), y.data<float>());
  auto dst = target(y_user, q->bdst_md, 1);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  if (algo == 0) args[DNNL_ARG_WORKSPACE] = memory(q->fwd_pd.workspace_desc(), engine(), ws.data<uint8_t>());
  q->fwd.execute(stream(), args);
  copy_back(dst, y_user);
  stream().wait();
  return {y, ws};
}

std::vector<paddle::Tensor> PoolBackward(const paddle::Tensor& x, const paddle::Tensor& ws,
                                         const paddle::Tensor& dy_in, const std::vector<int>& kernel,
                                         const std::vector<int>& strides, const std::vector<int>& paddings,
                                         int algo) {
  auto dy = dy_in.is_contiguous() ? dy_in : dy_in.contiguous();
  auto* q = pool_prims(dims_of(x), kernel, strides, paddings, algo);
  auto dx = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  auto ddst = as_layout(memory(q->dst_md, engine(), const_cast<float*>(dy.data<float>())), q->bdst_md, 0);
  memory dx_user(q->src_md, engine(), dx.data<float>());
  auto dsrc = target(dx_user, q->bsrc_md, 1);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_SRC, dsrc}};
  if (algo == 0)
    args[DNNL_ARG_WORKSPACE] =
        memory(q->fwd_pd.workspace_desc(), engine(), const_cast<uint8_t*>(ws.data<uint8_t>()));
  q->bwd.execute(stream(), args);
  copy_back(dsrc, dx_user);
  stream().wait();
  return {dx};
}

std::vector<std::vector<int64_t>> PoolInferShape(const std::vector<int64_t>& x, const std::vector<int>& k,
                                                 const std::vector<int>& s, const std::vector<int>& p, int algo) {
  auto out = [&](int64_t in, int i) { return in < 0 ? in : (in + p[2 * i] + p[2 * i + 1] - k[i]) / s[i] + 1; };
  return {{x[0], x[1], out(x[2], 0), out(x[3], 1)}, {-1}};
}

std::vector<paddle::DataType> PoolInferDtype(const paddle::DataType& x) { return {x, paddle::DataType::UINT8}; }

}  // namespace pcnn

PD_BUILD_OP(pcnn_pool2d)
    .Inputs({"X"})
    .Outputs({"Out", "Workspace"})
    .Attrs({"kernel: std::vector<int>", "strides: std::vector<int>", "paddings: std::vector<int>", "algo: int"})
    .SetKernelFn(PD_KERNEL(pcnn::PoolForward))
    .SetInferShapeFn(PD_INFER_SHAPE(pcnn::PoolInferShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(pcnn::PoolInferDtype));

PD_BUILD_GRAD_OP(pcnn_pool2d)
    .Inputs({"X", "Workspace", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X")})
    .Attrs({"kernel: std::vector<int>", "strides: std::vector<int>", "paddings: std::vector<int>", "algo: int"})
    .SetKernelFn(PD_KERNEL(pcnn::PoolBackward));
