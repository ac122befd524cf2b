// Ring: a double-ended queue in one contiguous block that grows by
// doubling and never shrinks. Unlike std::deque, a queue that items pass
// through (pushed at the back, popped at the front) allocates nothing once
// its block is as big as the most it held: std::deque allocates and frees
// a block every few items, which on the host's message path cost an
// allocation every second message.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <utility>

namespace immp {

template <typename T>
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  Ring(Ring&& other) noexcept
      : slots_(std::exchange(other.slots_, nullptr)),
        capacity_(std::exchange(other.capacity_, 0)),
        head_(std::exchange(other.head_, 0)),
        size_(std::exchange(other.size_, 0)) {}
  Ring& operator=(Ring&& other) noexcept {
    if (this != &other) {
      release();
      slots_ = std::exchange(other.slots_, nullptr);
      capacity_ = std::exchange(other.capacity_, 0);
      head_ = std::exchange(other.head_, 0);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~Ring() { release(); }

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

  T& front() { return slot(0); }
  const T& front() const { return slot(0); }
  T& back() { return slot(size_ - 1); }
  const T& back() const { return slot(size_ - 1); }
  T& operator[](std::size_t i) { return slot(i); }
  const T& operator[](std::size_t i) const { return slot(i); }

  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) grow();
    T* at = &slots_[(head_ + size_) & (capacity_ - 1)];
    std::construct_at(at, std::forward<Args>(args)...);
    ++size_;
    return *at;
  }
  void push_back(T item) { emplace_back(std::move(item)); }
  void push_front(T item) {
    if (size_ == capacity_) grow();
    head_ = (head_ + capacity_ - 1) & (capacity_ - 1);
    std::construct_at(&slots_[head_], std::move(item));
    ++size_;
  }
  void pop_front() {
    std::destroy_at(&slots_[head_]);
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
  }
  void pop_back() {
    std::destroy_at(&slot(size_ - 1));
    --size_;
  }
  void clear() {
    while (size_ > 0) pop_back();
    head_ = 0;
  }

  template <typename R, typename V>
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = V*;
    using reference = V&;
    Iterator() = default;
    Iterator(R* ring, std::size_t i) : ring_(ring), i_(i) {}
    V& operator*() const { return (*ring_)[i_]; }
    V* operator->() const { return &(*ring_)[i_]; }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++i_;
      return old;
    }
    bool operator==(const Iterator& other) const { return i_ == other.i_; }

   private:
    R* ring_ = nullptr;
    std::size_t i_ = 0;
  };
  using iterator = Iterator<Ring, T>;
  using const_iterator = Iterator<const Ring, const T>;
  iterator begin() { return {this, 0}; }
  iterator end() { return {this, size_}; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

 private:
  T& slot(std::size_t i) { return slots_[(head_ + i) & (capacity_ - 1)]; }
  const T& slot(std::size_t i) const { return slots_[(head_ + i) & (capacity_ - 1)]; }

  // Doubles the block (a power of two, so that an index wraps with a mask)
  // and moves the items to its start, in order.
  void grow() {
    std::size_t capacity = capacity_ ? capacity_ * 2 : 8;
    std::allocator<T> alloc;
    T* slots = alloc.allocate(capacity);
    for (std::size_t i = 0; i < size_; ++i) {
      T& from = slot(i);
      std::construct_at(&slots[i], std::move(from));
      std::destroy_at(&from);
    }
    if (slots_) alloc.deallocate(slots_, capacity_);
    slots_ = slots;
    capacity_ = capacity;
    head_ = 0;
  }
  void release() {
    clear();
    if (slots_) std::allocator<T>().deallocate(slots_, capacity_);
    slots_ = nullptr;
    capacity_ = 0;
  }

  T* slots_ = nullptr;
  std::size_t capacity_ = 0;  // zero or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace immp
