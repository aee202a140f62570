/// Convolutions: plain (with groups and dilation), depthwise and depthwise-separable.
module Receptor.Dsl.Layers.Convolution

open Receptor.Dsl

let private windowArgs =
    [ Param.optional "stride" KernelSize (Int 1) "step of the window"
      Param.optional "padding" PaddingSpec (Int 0) "zeros added on each side: n, h x w, same or valid"
      Param.optional "dilation" KernelSize (Int 1) "spacing between kernel taps" ]

/// The window of a convolution-like layer from its `kernel`, `dilation`, `stride` and `padding` arguments.
let window kind (args: Args) groups (h, w) =
    match Facts.geometry (args.Pair "kernel") (args.Pair "dilation") (args.Pair "stride") (args.Padding "padding") false groups (h, w) with
    | Some g -> Ok g
    | None ->
        let (kh, kw), (dh, dw) = args.Pair "kernel", args.Pair "dilation"
        let eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        Error (sprintf "%s: kernel %d×%d (dilated) does not fit the padded %d×%d input" kind eh ew h w)

/// A grouped convolution from `cin` to `cout` channels; shared by every convolution kind.
let convolution kind (args: Args) cin cout groups bias (h, w) =
    window kind args groups (h, w)
    |> Result.bind (fun g ->
        if cin % groups <> 0 || cout % groups <> 0 then
            Error (sprintf "%s: groups %d must divide input channels %d and output channels %d" kind groups cin cout)
        else
            let kh, kw = g.Kernel
            let oh, ow = g.Output
            let perOutput = int64 (cin / groups) * int64 kh * int64 kw
            let outputs = int64 cout * int64 oh * int64 ow
            Ok
                { Output = Spatial (cout, oh, ow)
                  Parameters = int64 cout * perOutput + (if bias then int64 cout else 0L)
                  Macs = outputs * perOutput
                  Flops = if bias then outputs else 0L
                  Field = Facts.fieldOf g
                  Geometry = Some g })

/// Whether a convolution-like layer (conv, dwconv, sepconv's pointwise part, deform, dcls, dendconv, dense,
/// dendense) learns a bias; its output channels are in its facts, its window in its geometry.
let hasBias (args: Args) = args.Bool "bias"

let conv =
    { Name = "conv"
      Aliases = [ "conv2d" ]
      Doc = "2-D convolution"
      Signature =
        [ Param.required "kernel" KernelSize "kernel size: k or h x w"
          Param.required "out" PositiveInt "output channels" ]
        @ windowArgs
        @ [ Param.optional "groups" PositiveInt (Int 1) "channel groups"
            Param.optional "bias" Flag (Bool true) "learn a bias per output channel" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "conv" input
            |> Result.bind (fun (c, h, w) ->
                convolution "conv" args c (args.Int "out") (args.Int "groups") (args.Bool "bias") (h, w)) }

let dwconv =
    { Name = "dwconv"
      Aliases = [ "depthwise" ]
      Doc = "depthwise convolution: one filter group per input channel"
      Signature =
        [ Param.required "kernel" KernelSize "kernel size"
          Param.optional "multiplier" PositiveInt (Int 1) "output channels per input channel" ]
        @ windowArgs
        @ [ Param.optional "bias" Flag (Bool true) "learn a bias per output channel" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "dwconv" input
            |> Result.bind (fun (c, h, w) ->
                convolution "dwconv" args c (c * args.Int "multiplier") c (args.Bool "bias") (h, w)) }

let sepconv =
    { Name = "sepconv"
      Aliases = [ "separable" ]
      Doc = "depthwise-separable convolution: depthwise k×k without bias, then pointwise 1×1"
      Signature =
        [ Param.required "kernel" KernelSize "kernel size of the depthwise part"
          Param.required "out" PositiveInt "output channels" ]
        @ windowArgs
        @ [ Param.optional "bias" Flag (Bool true) "bias of the pointwise part" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "sepconv" input
            |> Result.bind (fun (c, h, w) ->
                convolution "sepconv" args c c c false (h, w)
                |> Result.map (fun depthwise ->
                    let out = args.Int "out"
                    let pixels = Shape.elements depthwise.Output / int64 c
                    let bias = args.Bool "bias"
                    { depthwise with
                        Output =
                            (match depthwise.Output with
                             | Spatial (_, oh, ow) -> Spatial (out, oh, ow)
                             | flat -> flat)
                        Parameters = depthwise.Parameters + int64 c * int64 out + (if bias then int64 out else 0L)
                        Macs = depthwise.Macs + pixels * int64 c * int64 out
                        Flops = if bias then pixels * int64 out else 0L })) }

let kinds = [ conv; dwconv; sepconv ]
