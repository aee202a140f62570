/// The part of a network, and of its input, that one unit depends on: the network cut after the unit's
/// layer, and the input cropped to the unit's theoretical field. Running only that is exact: layers after
/// the unit cannot change it, and pixels outside its field receive no gradient.
namespace Receptor.Core.Fields

open Receptor.Dsl
open Receptor.Core

/// A window of the input, and the unit's position in the layer's output on that window.
type Crop =
    { /// First row and number of rows.
      Rows: int * int
      /// First column and number of columns.
      Columns: int * int
      /// (row, column) of the unit in the cropped network's output plane.
      Unit: int * int }

/// Cutting a checked tree at a unit's layer and its input at the unit's field.
module Cone =
    /// The tree evaluated up to the node at `path`: a sequence is cut after the element holding it; a merge
    /// holding it stays whole, since its branches run side by side. None when no node has the path.
    val prefix: path: string -> tree: Checked -> Checked option

    /// The crop for a unit of a layer (its row in the analysis and its region; `cut` is the tree `prefix`
    /// gives for the layer), when every kind in the cut tree is local (`FieldBehaviour.Local`), every
    /// effective stride up to the layer is a whole number, and the field leaves part of the image out; None
    /// otherwise (run the whole image). Each window starts at a multiple of the effective strides' least
    /// common multiple, so that every layer's grid stays aligned.
    val crop: report: AnalysisReport -> layer: NodeReport -> region: UnitRegion -> cut: Checked -> Crop option
