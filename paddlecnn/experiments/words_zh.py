"""The verdict table's words in Chinese, for README.zh.md's short table (terms as in docs/glossary.md).

Data only: one Chinese sentence per claim id of :mod:`.catalog` (tests fail when a claim has none), the
sources' short names and the verdicts.
"""

CLAIMS = {
    "lenet-no-converge": "sigmoid 激活的 LeNet 不收敛",
    "alexnet-best-classic": "在 16 类数据上 AlexNet 是经典网络中最好的",
    "vgg-overfits": "VGG 严重过拟合",
    "googlenet-slow": "GoogLeNet 收敛慢",
    "bn-two-three-layers": "VGG 中加两三层 BN 有益，更多则有害",
    "bn-vgg-eval-loss": "BN 降低 VGG 的验证损失",
    "bn-googlenet": "BN 让 GoogLeNet 提高约 8 个百分点",
    "tricks-sigmoid-no-train": "不带 BN 的 sigmoid CNN 训练不起来",
    "tricks-bn-trains": "BN 让 sigmoid CNN 能够训练",
    "tricks-leakyrelu": "LeakyReLU 提高 10 到 20 个百分点",
    "tricks-gap": "全局平均池化提高约 25 个百分点",
    "tricks-dropout": "dropout 提高约 20 个百分点",
    "tricks-coresize3": "堆叠 3x3 卷积提高约 20 个百分点",
    "tricks-concat": "拼接（concat）块提高约 25 个百分点",
    "tricks-all-decay": "所有技巧合用约 60%，加学习率衰减约 66%",
    "alexnet-relu-faster": "ReLU 达到同一训练错误率的速度是 tanh 的数倍",
    "alexnet-lrn": "LRN 降低错误率",
    "alexnet-overlap-pool": "重叠池化降低错误率",
    "alexnet-dropout": "dropout 抑制过拟合",
    "alexnet-pca-lighting": "PCA 光照扰动使错误率降低约 1 个百分点",
    "alexnet-ten-crop": "十裁剪测试优于中心裁剪",
    "vgg-deeper-better": "越深越好：同等训练下 A < B < D < E",
    "vgg-lrn-no-gain": "LRN 没有收益（A 与 A-LRN 相比）",
    "vgg-1x1-worse": "1x1 卷积层（C）不如 3x3（D）",
    "vgg-scale-jitter": "尺度抖动优于固定尺度",
    "vgg-dense-multicrop": "稠密评估与多裁剪评估互补",
    "vgg-fusion": "融合两个模型有帮助",
    "chapter-prelu-trains": "PReLU + MSRA 初始化 + BN 能从零训练 VGG16",
    "chapter-lr-drop": "在平台期降低学习率能提高准确率",
}
SOURCES = {
    "the PaddlePaddle tutorial": "飞桨教程",
    "the AlexNet paper": "AlexNet 论文",
    "the VGG paper": "VGG 论文",
    "the VGG16-on-ImageNet chapter": "VGG16 ImageNet 章节",
}
VERDICTS = {
    "reproduced": "复现",
    "not reproduced": "未复现",
    "not testable on a CPU": "无法在 CPU 上检验",
    "not testable yet": "暂无法检验",
    "not run yet": "尚未运行",
}
SHORT_HEADER = "| 结论 | 来源 | 我们的数字（均值 ± 极差，种子数） | 判定 |\n|---|---|---|---|"
