/// Normalisation layers, each with the initial values of its affine γ and β.
module Receptor.Dsl.Layers.Normalisation

open Receptor.Dsl

let private affineArgs =
    [ Param.optional "gamma" Number (Float 1.0) "initial scale γ"
      Param.optional "beta" Number (Float 0.0) "initial shift β"
      Param.optional "eps" Number (Float 1e-5) "added to the variance" ]

/// γ and β per channel; normalising costs about four operations per element.
let private perChannel name aliases doc extraArgs check =
    { Name = name
      Aliases = aliases
      Doc = doc
      Signature = extraArgs @ affineArgs
      AcceptsScalars = false
      Facts =
        fun args input ->
            check args input
            |> Result.map (fun () -> Facts.pointwise 4L (2L * int64 (Shape.channels input)) input) }

let batchnorm =
    perChannel "batchnorm" [ "bn" ] "batch normalisation over the batch and spatial axes" [] (fun _ _ -> Ok ())

let layernorm =
    perChannel "layernorm" [ "ln" ] "normalisation over all of C×H×W with a per-channel affine (GroupNorm with one group)" []
        (fun _ _ -> Ok ())

let groupnorm =
    perChannel "groupnorm" [ "gn" ] "normalisation over groups of channels"
        [ Param.required "groups" PositiveInt "number of channel groups" ]
        (fun args input ->
            let c, groups = Shape.channels input, args.Int "groups"
            if c % groups = 0 then Ok ()
            else Error (sprintf "groupnorm: %d groups do not divide %d channels" groups c))

let kinds = [ batchnorm; layernorm; groupnorm ]

/// The initial affine parameters and ε of a normalisation layer.
type Settings = { Gamma: float; Beta: float; Epsilon: float }

let settings (args: Args) = { Gamma = args.Float "gamma"; Beta = args.Float "beta"; Epsilon = args.Float "eps" }

/// groupnorm's number of channel groups.
let groups (args: Args) = args.Int "groups"
