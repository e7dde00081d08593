# tflint with its bundled Terraform rules only (no plugin downloads), across modules,
# environments and bootstrap.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
