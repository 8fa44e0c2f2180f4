/* proto_fields.h - field numbers of onnx.proto (onnx/onnx onnx/onnx.proto)
 * used by the loader, the TensorProto reader/writer and the model writer. */
#ifndef KH_ONNX_PROTO_FIELDS_H
#define KH_ONNX_PROTO_FIELDS_H

enum {
    /* ModelProto */
    MODEL_IR_VERSION = 1,
    MODEL_PRODUCER_NAME = 2,
    MODEL_PRODUCER_VERSION = 3,
    MODEL_DOMAIN = 4,
    MODEL_MODEL_VERSION = 5,
    MODEL_DOC_STRING = 6,
    MODEL_GRAPH = 7,
    MODEL_OPSET_IMPORT = 8,
    MODEL_FUNCTIONS = 25,

    /* OperatorSetIdProto */
    OPSET_DOMAIN = 1,
    OPSET_VERSION = 2,

    /* GraphProto */
    GRAPH_NODE = 1,
    GRAPH_NAME = 2,
    GRAPH_INITIALIZER = 5,
    GRAPH_INPUT = 11,
    GRAPH_OUTPUT = 12,
    GRAPH_VALUE_INFO = 13,
    GRAPH_SPARSE_INITIALIZER = 15,

    /* NodeProto */
    NODE_INPUT = 1,
    NODE_OUTPUT = 2,
    NODE_NAME = 3,
    NODE_OP_TYPE = 4,
    NODE_ATTRIBUTE = 5,
    NODE_DOMAIN = 7,

    /* AttributeProto */
    ATTR_NAME = 1,
    ATTR_F = 2,
    ATTR_I = 3,
    ATTR_S = 4,
    ATTR_T = 5,
    ATTR_G = 6,
    ATTR_FLOATS = 7,
    ATTR_INTS = 8,
    ATTR_STRINGS = 9,
    ATTR_TENSORS = 10,
    ATTR_GRAPHS = 11,
    ATTR_TYPE = 20,
    ATTR_REF_ATTR_NAME = 21,
    ATTR_SPARSE_TENSOR = 22,

    /* ValueInfoProto */
    VALUE_INFO_NAME = 1,
    VALUE_INFO_TYPE = 2,

    /* TypeProto */
    TYPE_TENSOR_TYPE = 1,
    TYPE_SEQUENCE_TYPE = 4,
    TYPE_MAP_TYPE = 5,
    TYPE_SPARSE_TENSOR_TYPE = 8,
    TYPE_OPTIONAL_TYPE = 9,
    /* TypeProto.Tensor */
    TENSOR_TYPE_ELEM_TYPE = 1,
    TENSOR_TYPE_SHAPE = 2,
    /* TensorShapeProto */
    SHAPE_DIM = 1,
    /* TensorShapeProto.Dimension */
    DIM_VALUE = 1,
    DIM_PARAM = 2,

    /* TensorProto */
    TENSOR_DIMS = 1,
    TENSOR_DATA_TYPE = 2,
    TENSOR_SEGMENT = 3,
    TENSOR_FLOAT_DATA = 4,
    TENSOR_INT32_DATA = 5,
    TENSOR_STRING_DATA = 6,
    TENSOR_INT64_DATA = 7,
    TENSOR_NAME = 8,
    TENSOR_RAW_DATA = 9,
    TENSOR_DOUBLE_DATA = 10,
    TENSOR_UINT64_DATA = 11,
    TENSOR_EXTERNAL_DATA = 13,
    TENSOR_DATA_LOCATION = 14,
    TENSOR_LOCATION_EXTERNAL = 1,
};

#endif
