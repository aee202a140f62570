/// Layers that reshape, connect densely, pad, resample, scale or drop.
module Receptor.Dsl.Layers.Structural

open Receptor.Dsl

let identity =
    { Name = "identity"
      Aliases = [ "id" ]
      Doc = "returns its input"
      Signature = []
      AcceptsScalars = false
      Facts = fun _ input -> Ok (Facts.pointwise 0L 0L input) }

let dropout =
    { Name = "dropout"
      Aliases = []
      Doc = "zeroes each element with probability p in training, scaling the rest by 1/(1 − p)"
      Signature = [ Param.optional "p" Fraction (Float 0.5) "drop probability" ]
      AcceptsScalars = false
      Facts = fun _ input -> Ok (Facts.pointwise 1L 0L input) }

let scale =
    { Name = "scale"
      Aliases = []
      Doc = "multiplies by a constant"
      Signature = [ Param.required "factor" Number "the constant" ]
      AcceptsScalars = false
      Facts = fun _ input -> Ok (Facts.pointwise 1L 0L input) }

let flatten =
    { Name = "flatten"
      Aliases = []
      Doc = "C×H×W to a flat vector of C·H·W"
      Signature = []
      AcceptsScalars = false
      Facts =
        fun _ input ->
            Ok
                { Output = Flat (int (Shape.elements input))
                  Parameters = 0L
                  Macs = 0L
                  Flops = 0L
                  // The flat vector is one unit whose field is the union of the fields of all positions.
                  Field =
                    match input with
                    | Spatial (_, h, w) -> Facts.window (h, w) (h, w) (0, 0)
                    | Flat _ -> Pointwise
                  Geometry = None } }

let dense =
    { Name = "dense"
      Aliases = [ "linear"; "fc" ]
      Doc = "fully connected layer on a flat vector"
      Signature =
        [ Param.required "out" PositiveInt "output features"
          Param.optional "bias" Flag (Bool true) "learn a bias" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            match input with
            | Spatial (c, h, w) -> Error (sprintf "dense needs a flat input, got %d×%d×%d; add flatten first" c h w)
            | Flat n ->
                let out = args.Int "out"
                let bias = args.Bool "bias"
                Ok
                    { Output = Flat out
                      Parameters = int64 n * int64 out + (if bias then int64 out else 0L)
                      Macs = int64 n * int64 out
                      Flops = if bias then int64 out else 0L
                      Field = Pointwise
                      Geometry = None } }

let zeropad =
    { Name = "zeropad"
      Aliases = []
      Doc = "adds zeros around the image: n, or h x w on each side"
      Signature = [ Param.required "padding" KernelSize "zeros on each side" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "zeropad" input
            |> Result.map (fun (c, h, w) ->
                let ph, pw = args.Pair "padding"
                { Output = Spatial (c, h + 2 * ph, w + 2 * pw)
                  Parameters = 0L
                  Macs = 0L
                  Flops = 0L
                  Field = Facts.window (1, 1) (1, 1) (ph, pw)
                  Geometry = None }) }

let upsample =
    { Name = "upsample"
      Aliases = []
      Doc = "enlarges H and W by an integer factor"
      Signature =
        [ Param.required "factor" PositiveInt "scale factor"
          Param.optional "mode" (OneOf [ "nearest"; "bilinear" ]) (Word "nearest") "interpolation" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "upsample" input
            |> Result.map (fun (c, h, w) ->
                let f = args.Int "factor"
                let bilinear = args.Word "mode" = "bilinear"
                // Output unit u samples input coordinate (u + ½)/f − ½: a fractional stride 1/f; bilinear
                // reads two neighbours, nearest one.
                let kernel = if bilinear then 2.0 else 1.0
                let shift = 0.5 * (1.0 - 1.0 / float f) + 0.5 * (kernel - 1.0)
                let output = Spatial (c, h * f, w * f)
                { Output = output
                  Parameters = 0L
                  Macs = 0L
                  Flops = if bilinear then 4L * Shape.elements output else 0L
                  Field = Window ((kernel, kernel), (1.0 / float f, 1.0 / float f), (shift, shift))
                  Geometry = None }) }

/// ShuffleNet's channel shuffle (Zhang et al. 2018): the channels, read as `groups` rows of C/groups, are
/// written out column by column, so that the next grouped convolution sees every group. Output channel
/// j·groups + i is input channel i·(C/groups) + j. It moves values only: no parameters, no operations.
let shuffle =
    { Name = "shuffle"
      Aliases = [ "channelshuffle" ]
      Doc = "ShuffleNet's channel shuffle: channel i·(C/g) + j goes to j·g + i"
      Signature = [ Param.required "groups" PositiveInt "g: the channel groups to interleave" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "shuffle" input
            |> Result.bind (fun (c, _, _) ->
                let groups = args.Int "groups"
                if c % groups = 0 then Ok (Facts.pointwise 0L 0L input)
                else Error (sprintf "shuffle: %d groups do not divide %d channels" groups c)) }

let kinds = [ identity; dropout; scale; flatten; dense; zeropad; upsample; shuffle ]

/// dropout's drop probability.
let dropProbability (args: Args) = args.Float "p"

/// scale's constant factor.
let scaleFactor (args: Args) = args.Float "factor"

/// zeropad's zeros on each side, (rows, columns).
let zeroPadding (args: Args) = args.Pair "padding"

/// upsample's factor and whether it interpolates bilinearly (else nearest).
let upsampling (args: Args) = args.Int "factor", args.Word "mode" = "bilinear"

/// shuffle's channel groups.
let shuffleGroups (args: Args) = args.Int "groups"
