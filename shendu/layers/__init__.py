"""Layers with tf.keras's names, arguments, defaults and weight layouts."""
from shendu.layers.base import Layer
from shendu.layers.input_spec import InputSpec
from shendu.layers.core import (ELU, Activation, Dense, Dropout, Flatten, Input, InputLayer, Lambda, LeakyReLU, ReLU,
                                Reshape, Softmax)
from shendu.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, concatenate,
                                   multiply)
from shendu.layers.normalization import BatchNormalization, LayerNormalization
from shendu.layers.conv import Conv1D, Conv2D, Conv2DTranspose, Convolution1D, Convolution2D
from shendu.layers.pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D, GlobalAveragePooling1D,
                                   GlobalAveragePooling2D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D,
                                   GlobalMaxPool2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPool2D,
                                   MaxPooling1D, MaxPooling2D)
from shendu.layers.reshaping import Cropping2D, UpSampling2D, ZeroPadding2D
from shendu.layers.attention import AdditiveAttention, Attention, MultiHeadAttention
from shendu.layers.positional import PositionalEncoding, PositionEmbedding
from shendu.layers.embedding import Embedding, Masking
from shendu.layers.recurrent import GRU, LSTM, RNN, SimpleRNN
from shendu.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell
from shendu.layers.wrappers import Bidirectional, RepeatVector, TimeDistributed
from shendu.layers.text_vectorization import TextVectorization
from shendu.layers.core import PReLU
from shendu.layers.regularization import (ActivityRegularization, GaussianDropout, GaussianNoise, SpatialDropout1D,
                                         SpatialDropout2D, SpatialDropout3D)
from shendu.layers.reshaping import Cropping1D, Permute, UpSampling1D, ZeroPadding1D
from shendu.layers.merging import Dot, dot
from shendu.layers.preprocessing import Normalization, Rescaling
from shendu.layers.conv_extra import (Conv1DTranspose, Conv3D, Conv3DTranspose, Convolution1DTranspose,
                                     Convolution2DTranspose, Convolution3D,
                                     Convolution3DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                                     SeparableConv2D, SeparableConvolution1D, SeparableConvolution2D)
from shendu.layers.pooling import (AveragePooling3D, AvgPool3D, GlobalAveragePooling3D, GlobalAvgPool3D,
                                   GlobalMaxPool3D, GlobalMaxPooling3D, MaxPool3D, MaxPooling3D)
from shendu.layers.kernelized import RandomFourierFeatures
