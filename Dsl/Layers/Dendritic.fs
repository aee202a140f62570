/// Dendritic ReLU units (Metta et al., "Improving Performance in Neural Networks by Dendrites-Activated
/// Connections", arXiv:2301.00924, 2023; as "Increasing biases can be more efficient than increasing
/// weights", WACV 2024): every input connection passes through its own shifted ReLU before the weighted
/// sum, y_o = Σᵢ w_oi·relu(x_i + b_oi) + c_o, instead of one activation shared by all the units that read
/// an input. A convolution's connection is an (output channel, input channel) pair: its shift is shared
/// over the kernel's taps and positions as its weights are shared over positions, and zero padding lies
/// around the rectified input.
/// Counting: the weights' multiply-adds are MACs as for the plain layer; each connection adds one shift
/// parameter, and one addition and one ReLU per value it rectifies (a convolution rectifies the whole
/// input map once per connection).
module Receptor.Dsl.Layers.Dendritic

open Receptor.Dsl

let dendconv =
    { Name = "dendconv"
      Aliases = []
      Doc = "convolution whose every (output, input) channel connection applies its own shifted ReLU before the sum"
      Signature =
        [ Param.required "kernel" KernelSize "kernel size: k or h x w"
          Param.required "out" PositiveInt "output channels"
          Param.optional "stride" KernelSize (Int 1) "step of the window"
          Param.optional "padding" PaddingSpec (Int 0) "zeros around the rectified input: n, h x w, same or valid"
          Param.optional "dilation" KernelSize (Int 1) "spacing between kernel taps"
          Param.optional "groups" PositiveInt (Int 1) "channel groups"
          Param.optional "bias" Flag (Bool true) "learn a bias per output channel" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "dendconv" input
            |> Result.bind (fun (c, h, w) ->
                let out, groups = args.Int "out", args.Int "groups"
                Convolution.convolution "dendconv" args c out groups (args.Bool "bias") (h, w)
                |> Result.map (fun facts ->
                    let connections = int64 out * int64 (c / groups)
                    { facts with
                        Parameters = facts.Parameters + connections
                        Flops = facts.Flops + 2L * connections * int64 h * int64 w })) }

let dendense =
    { Name = "dendense"
      Aliases = []
      Doc = "fully connected layer whose every connection applies its own shifted ReLU before the sum"
      Signature =
        [ Param.required "out" PositiveInt "output features"
          Param.optional "bias" Flag (Bool true) "learn a bias per output" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            match input with
            | Spatial (c, h, w) -> Error (sprintf "dendense needs a flat input, got %d×%d×%d; add flatten first" c h w)
            | Flat n ->
                let out = args.Int "out"
                let bias = if args.Bool "bias" then int64 out else 0L
                let connections = int64 n * int64 out
                Ok
                    { Output = Flat out
                      Parameters = 2L * connections + bias
                      Macs = connections
                      Flops = 2L * connections + bias
                      Field = Pointwise
                      Geometry = None } }

let kinds = [ dendconv; dendense ]
