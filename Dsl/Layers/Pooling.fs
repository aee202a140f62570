/// Pooling: windowed max and average, global and adaptive.
module Receptor.Dsl.Layers.Pooling

open Receptor.Dsl

let private windowed name doc extraArgs =
    { Name = name
      Aliases = []
      Doc = doc
      Signature =
        [ Param.required "kernel" KernelSize "window size"
          Param.sameAs "stride" KernelSize "kernel" "step of the window (default: the kernel)"
          Param.optional "padding" PaddingSpec (Int 0) "padding on each side"
          Param.optional "ceil" Flag (Bool false) "round the output size up, as PyTorch's ceil_mode" ]
        @ extraArgs
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial name input
            |> Result.bind (fun (c, h, w) ->
                let kh, kw = args.Pair "kernel"
                let top, left, bottom, right = Facts.resolvePadding (args.Padding "padding") (h, w) (kh, kw) (args.Pair "stride")
                if 2 * max top bottom > kh || 2 * max left right > kw then
                    Error (sprintf "%s: padding must be at most half the kernel (%d×%d)" name kh kw)
                else
                    match Facts.geometry (kh, kw) (1, 1) (args.Pair "stride") (args.Padding "padding") (args.Bool "ceil") 1 (h, w) with
                    | Some g ->
                        let oh, ow = g.Output
                        Ok
                            { Output = Spatial (c, oh, ow)
                              Parameters = 0L
                              Macs = 0L
                              Flops = int64 c * int64 oh * int64 ow * int64 kh * int64 kw
                              Field = Facts.fieldOf g
                              Geometry = Some g }
                    | None -> Error (sprintf "%s: window %d×%d does not fit the %d×%d input" name kh kw h w)) }

/// Whether average pooling counts padded zeros in its divisor.
let countsPadding (args: Args) = args.Bool "countpad"

let maxpool = windowed "maxpool" "max pooling" []

let avgpool =
    windowed "avgpool" "average pooling"
        [ Param.optional "countpad" Flag (Bool true) "count padded zeros in the average" ]

let private global' name doc =
    { Name = name
      Aliases = []
      Doc = doc
      Signature = []
      AcceptsScalars = false
      Facts =
        fun _ input ->
            Facts.needsSpatial name input
            |> Result.map (fun (c, h, w) ->
                { Output = Spatial (c, 1, 1)
                  Parameters = 0L
                  Macs = 0L
                  Flops = Shape.elements input
                  // One window over the whole map: the field is the union of its input units' fields.
                  Field = Facts.window (h, w) (h, w) (0, 0)
                  Geometry = None }) }

let gavgpool = global' "gavgpool" "global average pooling to C×1×1"

let gmaxpool = global' "gmaxpool" "global max pooling to C×1×1"

let rec private gcd (a: int64) b = if b = 0L then a else gcd b (a % b)

/// The largest of PyTorch's adaptive windows, [floor(i·n/m), ceil((i+1)·n/m)), along one axis, in closed
/// form: window i spans ceil(((i·n mod m) + n) / m) inputs, and i·n mod m reaches at most m − gcd(n, m).
/// (Trying every window took time linear in m and overflowed i·n for large m.)
let private largestAdaptiveWindow length outputs =
    let n, m = int64 length, int64 outputs
    int ((m - gcd n m + n + m - 1L) / m)

let adaptiveavgpool =
    { Name = "adaptiveavgpool"
      Aliases = []
      Doc = "average pooling to a fixed output size, with PyTorch's window rule"
      Signature = [ Param.required "size" KernelSize "output size: n or h x w" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "adaptiveavgpool" input
            |> Result.map (fun (c, h, w) ->
                let oh, ow = args.Pair "size"
                let kh, kw = largestAdaptiveWindow h oh, largestAdaptiveWindow w ow
                { Output = Spatial (c, oh, ow)
                  Parameters = 0L
                  Macs = 0L
                  Flops = int64 c * int64 oh * int64 ow * int64 kh * int64 kw
                  Field =
                    Window ((float kh, float kw), (float h / float oh, float w / float ow), (0.0, 0.0))
                  Geometry = None }) }

let kinds = [ maxpool; avgpool; gavgpool; gmaxpool; adaptiveavgpool ]

/// Whether a windowed pooling rounds its output size up (PyTorch's ceil_mode).
let ceilMode (args: Args) = args.Bool "ceil"

/// adaptiveavgpool's output size.
let adaptiveSize (args: Args) = args.Pair "size"
