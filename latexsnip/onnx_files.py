"""Names shared by the ONNX exporter (training side) and the ONNX Runtime engine (app side)."""

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
WEIGHTS_FILE = "model.safetensors"  # the graphs' external data points into this file
GRAPH_FORMAT = 1  # bump when the graphs' inputs/outputs change
