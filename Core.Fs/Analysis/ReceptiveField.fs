namespace Receptor.Core

open Receptor.Dsl

type AxisField =
    { Size: float
      Stride: float
      Padding: float }

type Field =
    | Local of height: AxisField * width: AxisField
    | Global

module AxisField =
    let unit = { Size = 1.0; Stride = 1.0; Padding = 0.0 }

    let centre (field: AxisField) (u: float) = -field.Padding + u * field.Stride + (field.Size - 1.0) / 2.0

    let step (field: AxisField) kernel stride padding =
        { Size = field.Size + (kernel - 1.0) * field.Stride
          Stride = field.Stride * stride
          Padding = field.Padding + padding * field.Stride }

module Field =
    let input shape =
        match shape with
        | Spatial _ -> Local (AxisField.unit, AxisField.unit)
        | Flat _ -> Global

    let step field (fieldStep: FieldStep) =
        match field, fieldStep with
        | Global, _ -> Global
        | _, Pointwise -> field
        | Local (h, w), Window ((kh, kw), (sh, sw), (ph, pw)) ->
            Local (AxisField.step h kh sh ph, AxisField.step w kw sw pw)

    let private close (a: float) (b: float) = abs (a - b) <= 1e-9 * max 1.0 (max (abs a) (abs b))

    /// Why two paths into one merge are misaligned along an axis, if they are.
    let private misalignment axis (a: AxisField) (b: AxisField) =
        if not (close a.Stride b.Stride) then
            Some (sprintf "%s strides %g and %g differ" axis a.Stride b.Stride)
        elif not (close (AxisField.centre a 0.0) (AxisField.centre b 0.0)) then
            Some (sprintf "%s centres %g and %g differ" axis (AxisField.centre a 0.0) (AxisField.centre b 0.0))
        else None

    let merge (fields: Field list) =
        let locals = fields |> List.choose (function Local (h, w) -> Some (h, w) | Global -> None)
        if locals.Length < fields.Length || locals.IsEmpty then Global, []
        else
            let widest = locals |> List.maxBy (fun (h, w) -> h.Size * w.Size)
            let problems =
                locals
                |> List.collect (fun (h, w) ->
                    [ misalignment "vertical" (fst widest) h; misalignment "horizontal" (snd widest) w ] |> List.choose id)
                |> List.distinct
            // Per axis, the widest path's field: aligned paths share stride and centre, so its size and
            // padding belong together (one path may be widest vertically, another horizontally).
            let widestAlong (pick: AxisField * AxisField -> AxisField) = locals |> List.map pick |> List.maxBy (fun a -> a.Size)
            Local (widestAlong fst, widestAlong snd), problems
