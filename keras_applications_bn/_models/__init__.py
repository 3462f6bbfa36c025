"""What the model functions are built from, and the package's internals: the
builder (argument checks, input, top, weights, the declaration of model
functions), their docstrings (docs), blocks that several families share, the
argument checks every public function uses, and the tf_keras refusal. Nothing
here is public API."""
