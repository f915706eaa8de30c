"""Running a model: the backend interface and its two engines, model loading, chat rendering.

backend       the three operations the loop needs (sample, nll, next_token_logprobs) and `load_backend`
hf_backend    transformers: a hand-written decode loop with a shared-prefix KV cache
vllm_backend  vLLM's offline engine, the adapter of an epoch as a LoRA request
models        where weights come from (embedded GGUF, local folder, hub), device and dtype, loading
attention     decode-step GQA attention and the shared-prefix (cascade) attention on a CPU
packing       a batch's prompt suffixes as prefix trees, computed once per node
linear        float32 linear layers through oneDNN on a CPU, for inference
nll           the teacher-forced response NLL (the finetune loss and the transformers backend's `nll`)
chat          messages to prompt token ids, with or without the model's chat template
"""
