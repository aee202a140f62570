namespace Receptor.Core.Data

/// Labelled images shared by every data source: flat row-major NCHW float32 pixels in [0, 1].
type Dataset =
    { Images: float32[]
      Labels: int[]
      Count: int
      Channels: int
      Height: int
      Width: int
      Classes: int }

module Dataset =
    let imageSize d = d.Channels * d.Height * d.Width

    /// The pixels of image i, copied out of the flat array.
    let image i d = Array.sub d.Images (i * imageSize d) (imageSize d)

    /// How many images carry each label, indexed by label.
    let classCounts d = Array.init d.Classes (fun c -> d.Labels |> Array.sumBy (fun l -> if l = c then 1 else 0))
