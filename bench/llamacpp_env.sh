# Sourced by the bench/ scripts that run llama.cpp: its prebuilt Vulkan build from the npm registry
# (node-llama-cpp with @node-llama-cpp/linux-x64-vulkan), installed once into build/llamacpp-node.
LLAMACPP_VERSION=3.22.1
LLAMACPP_DIR=build/llamacpp-node
install_llamacpp() {
  if [ ! -d "$LLAMACPP_DIR/node_modules/@node-llama-cpp/linux-x64-vulkan" ]; then
    echo "installing node-llama-cpp $LLAMACPP_VERSION (prebuilt llama.cpp Vulkan) into $LLAMACPP_DIR" >&2
    mkdir -p "$LLAMACPP_DIR"
    (cd "$LLAMACPP_DIR" && [ -f package.json ] || npm init -y >/dev/null)
    (cd "$LLAMACPP_DIR" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --silent \
       "node-llama-cpp@$LLAMACPP_VERSION" "@node-llama-cpp/linux-x64-vulkan@$LLAMACPP_VERSION" >/dev/null)
  fi
}
